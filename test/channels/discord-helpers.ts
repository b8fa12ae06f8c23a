// Helpers for the Discord tests: a tenant whose Discord application has a real Ed25519 key pair
// (tweetnacl, independent of the adapter's WebCrypto verify) and its bot token in the tenant's
// vault, interactions signed the way Discord signs them, and what the fake REST API received.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import nacl from "tweetnacl";
import type { DiscordMessage, DiscordRequest } from "../fakes/discord.ts";
import { admin, BASE, expectStatus, makeTenant, type TestTenant } from "../gateway/helpers.ts";
import { scenarioModel } from "./helpers.ts";

export const DISCORD_API_PATH = "/api/v10";

let counter = BigInt(Math.floor(Math.random() * 1e9)) * 1_000_000n;
// A snowflake unique across tests (ids, channels, users).
export function snowflake(): string {
  counter += 1n;
  return String(1_100_000_000_000_000_000n + counter);
}

export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export interface DiscordSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  appId: string;
  botId: string;
  botToken: string;
  keys: nacl.SignKeyPair;
}

// A bot token shaped like Discord's (three dot-separated base64url parts), one per test, so the
// fake's recordings are this test's alone.
function newBotToken(): string {
  return `${btoa(snowflake()).replace(/=+$/, "")}.GhT${Math.random().toString(36).slice(2, 6)}.${crypto.randomUUID().replace(/-/g, "")}`;
}

export async function setupDiscord(
  // scenario: the agent's model is a scripted stream of the fake upstream (streaming tests).
  options: { limits?: Record<string, number>; agent?: Record<string, unknown>; sendIntervalMs?: number; streamReplies?: boolean; scenario?: Record<string, unknown> } = {},
): Promise<DiscordSetup> {
  const tenant = await makeTenant();
  const model = options.scenario ? (await scenarioModel(tenant, options.scenario)).model : "fake-echo";
  const botToken = newBotToken();
  const keys = nacl.sign.keyPair();
  const botId = snowflake();
  expectStatus(await admin(tenant.owner, "PUT", "/secrets/discord-bot", { tenant_id: tenant.tenantId, value: botToken }), 201);
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "helper", system_prompt: "Be brief.", model, ...options.agent }),
    201,
  );
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", {
      tenant_id: tenant.tenantId,
      channel: "discord",
      name: "app",
      api_base_url: `${env.FAKE_DISCORD_URL}${DISCORD_API_PATH}`,
      token_ref: "vault:discord-bot",
      // Upper case on purpose: the admin API stores it lower-cased.
      public_key: hex(keys.publicKey).toUpperCase(),
      bot_username: botId,
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.streamReplies !== undefined ? { stream_replies: options.streamReplies } : {}),
      ...(options.limits ? { limits: options.limits } : {}),
    }),
    201,
  );
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id }), 201);
  return { tenant, agentId: agent.body.id, accountId: account.body.id, appId: snowflake(), botId, botToken, keys };
}

// Discord's signature: Ed25519 over timestamp + raw body, hex.
export function discordSignature(secretKey: Uint8Array, timestamp: string, body: string): string {
  return hex(nacl.sign.detached(new TextEncoder().encode(timestamp + body), secretKey));
}

export interface Interaction {
  id: string;
  application_id: string;
  type: number;
  token: string;
  channel_id: string;
  [key: string]: unknown;
}

// A slash command as Discord sends it: in a guild (member.user) or a DM (user).
export function command(s: DiscordSetup, name: string, o: { text?: string; channel?: string; guild?: string | null; user?: string } = {}): Interaction {
  const user = { id: o.user ?? "200000000000000001", username: "alice", global_name: "Alice" };
  const guild = o.guild === undefined ? snowflake() : o.guild;
  return {
    id: snowflake(),
    application_id: s.appId,
    type: 2,
    token: `aW50ZXJhY3Rpb246${crypto.randomUUID().replace(/-/g, "")}.${snowflake()}`,
    version: 1,
    channel_id: o.channel ?? snowflake(),
    ...(guild !== null ? { guild_id: guild, member: { user, nick: null, roles: [] } } : { user }),
    data: { id: snowflake(), name, type: 1, ...(o.text !== undefined ? { options: [{ name: "text", type: 3, value: o.text }] } : {}) },
    locale: "en-US",
  };
}

export interface SignOptions {
  secretKey?: Uint8Array;
  timestamp?: number;
  signature?: string | null;
  timestampHeader?: string | null;
  // false: the fake is not told of the interaction (its webhook then answers 404 like Discord's).
  register?: boolean;
}

export async function deliverDiscord(s: DiscordSetup, body: string | object, o: SignOptions = {}): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = { "content-type": "application/json" };
  const signature = o.signature === undefined ? discordSignature(o.secretKey ?? s.keys.secretKey, timestamp, raw) : o.signature;
  if (signature !== null) headers["x-signature-ed25519"] = signature;
  const stamp = o.timestampHeader === undefined ? timestamp : o.timestampHeader;
  if (stamp !== null) headers["x-signature-timestamp"] = stamp;
  if (typeof body === "object" && o.register !== false) {
    const ix = body as Partial<Interaction>;
    if (ix.token && ix.application_id) await discordControl("interaction", { app: ix.application_id, token: ix.token, channel_id: ix.channel_id });
  }
  return SELF.fetch(`${BASE}/webhooks/discord/${s.accountId}`, { method: "POST", headers, body: raw });
}

export async function discordControl(what: "fail" | "expire" | "interaction" | "gateway", body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${env.FAKE_DISCORD_URL}/control/${what}`, { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`fake discord control ${what}: ${res.status}`);
}

export function discordFail(key: string, kind: "429" | "global429" | "500" | "stall" | "error", times: number, extra: { retry_after?: number; status?: number; code?: number } = {}) {
  return discordControl("fail", { key, kind, times, ...extra });
}

// Every request that carried `key` (a bot token or an application id).
export async function discordRequests(key: string): Promise<DiscordRequest[]> {
  return (await (await fetch(`${env.FAKE_DISCORD_URL}/control/requests?key=${encodeURIComponent(key)}`)).json()) as DiscordRequest[];
}

// The messages as they stand, created with `key` (bot token or application id), optionally in one channel.
export async function discordMessages(key: string, channel?: string): Promise<DiscordMessage[]> {
  const all = (await (await fetch(`${env.FAKE_DISCORD_URL}/control/messages?key=${encodeURIComponent(key)}`)).json()) as DiscordMessage[];
  return channel === undefined ? all : all.filter((m) => m.channel_id === channel);
}

export function discordSessionKey(s: DiscordSetup, scope: string): string {
  return `${s.tenant.tenantId}/${s.agentId}/discord/${s.accountId}/${scope}`;
}

export async function ackOf(res: Response): Promise<any> {
  if (res.status !== 200) throw new Error(`interaction answered ${res.status}: ${await res.text()}`);
  return res.json();
}
