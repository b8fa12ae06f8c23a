// Helpers for the Slack tests: a tenant whose Slack app keeps its bot token and signing secret in
// the tenant's vault, deliveries signed the way Slack signs them (computed here with WebCrypto,
// independently of workers/channels/slack.ts), and what the fake Web API received.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { SlackSentMessage } from "../fakes/slack.ts";
import { admin, BASE, expectStatus, makeTenant, type TestTenant } from "../gateway/helpers.ts";

export const BOT_USER = "UBOT0001";

export interface SlackSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  botToken: string;
  signingSecret: string;
}

// `model`: the agent's model (default the fake upstream's echo); `stream`: stream_replies.
export async function setupSlack(options: { sendIntervalMs?: number; limits?: Record<string, number>; model?: (tenant: TestTenant) => Promise<string>; stream?: boolean } = {}): Promise<SlackSetup> {
  const tenant = await makeTenant();
  // A token per test: the fake records per token, so tests never see each other's messages.
  const botToken = `xoxb-${crypto.randomUUID()}`;
  const signingSecret = crypto.randomUUID().replace(/-/g, "");
  expectStatus(await admin(tenant.owner, "PUT", "/secrets/slack-bot", { tenant_id: tenant.tenantId, value: botToken }), 201);
  expectStatus(await admin(tenant.owner, "PUT", "/secrets/slack-signing", { tenant_id: tenant.tenantId, value: signingSecret }), 201);
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "helper", system_prompt: "Be brief.", model: options.model ? await options.model(tenant) : "fake-echo" }),
    201,
  );
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", {
      tenant_id: tenant.tenantId,
      channel: "slack",
      name: "app",
      api_base_url: env.FAKE_SLACK_URL,
      token_ref: "vault:slack-bot",
      signing_secret_ref: "vault:slack-signing",
      bot_username: BOT_USER,
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.stream !== undefined ? { stream_replies: options.stream } : {}),
    }),
    201,
  );
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id }), 201);
  return { tenant, agentId: agent.body.id, accountId: account.body.id, botToken, signingSecret };
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// Slack's v0 signature: hex HMAC-SHA256 of "v0:{timestamp}:{body}" with the signing secret.
export async function slackSignature(secret: string, timestamp: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return `v0=${hex(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`v0:${timestamp}:${body}`)))}`;
}

export interface SignOptions {
  secret?: string;
  timestamp?: number;
  signature?: string | null;
  contentType?: string;
  retryNum?: number;
}

export async function deliverSlack(s: SlackSetup, body: string | object, o: SignOptions = {}): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const headers: Record<string, string> = { "content-type": o.contentType ?? "application/json", "x-slack-request-timestamp": timestamp };
  const signature = o.signature === undefined ? await slackSignature(o.secret ?? s.signingSecret, timestamp, raw) : o.signature;
  if (signature !== null) headers["x-slack-signature"] = signature;
  if (o.retryNum !== undefined) {
    headers["x-slack-retry-num"] = String(o.retryNum);
    headers["x-slack-retry-reason"] = "http_timeout";
  }
  return SELF.fetch(`${BASE}/webhooks/slack/${s.accountId}`, { method: "POST", headers, body: raw });
}

let counter = Math.floor(Math.random() * 1e8);
export function nextId(): number {
  return ++counter;
}

// A message ts unique across tests.
export function newTs(): string {
  return `${1_700_000_000 + nextId()}.${String(nextId() % 1_000_000).padStart(6, "0")}`;
}

export function newChannel(prefix: "D" | "C"): string {
  return `${prefix}${nextId().toString(36).toUpperCase()}`;
}

export function eventCallback(event: Record<string, unknown>, eventId = `Ev${nextId()}`) {
  return { token: "legacy", team_id: "T0001", api_app_id: "A0001", type: "event_callback", event_id: eventId, event_time: 1_700_000_000, event };
}

export function dmEvent(channel: string, user: string, text: string, extra: Record<string, unknown> = {}) {
  return eventCallback({ type: "message", channel, channel_type: "im", user, text, ts: newTs(), ...extra });
}

export function channelEvent(type: "message" | "app_mention", channel: string, user: string, text: string, extra: Record<string, unknown> = {}) {
  return eventCallback({ type, channel, ...(type === "message" ? { channel_type: "channel" } : {}), user, text, ts: newTs(), ...extra });
}

export function slashBody(fields: Record<string, string>): string {
  return new URLSearchParams({ token: "legacy", team_id: "T0001", command: "/edgeclaw", trigger_id: `${nextId()}.trig`, ...fields }).toString();
}

export async function slackSent(token: string, channel?: string): Promise<SlackSentMessage[]> {
  const all = (await (await fetch(`${env.FAKE_SLACK_URL}/control/${encodeURIComponent(token)}/sent`)).json()) as SlackSentMessage[];
  return channel === undefined ? all : all.filter((m) => m.channel === channel);
}

export async function slackCalls(token: string): Promise<number> {
  return ((await (await fetch(`${env.FAKE_SLACK_URL}/control/${encodeURIComponent(token)}/calls`)).json()) as { calls: number }).calls;
}

export async function slackFail(token: string, kind: "429" | "500" | "error", times: number, extra: { retry_after?: number; error?: string } = {}): Promise<void> {
  await fetch(`${env.FAKE_SLACK_URL}/control/${encodeURIComponent(token)}/fail`, { method: "POST", body: JSON.stringify({ kind, times, ...extra }) });
}

export function slackSessionKey(s: SlackSetup, scope: string): string {
  return `${s.tenant.tenantId}/${s.agentId}/slack/${s.accountId}/${scope}`;
}
