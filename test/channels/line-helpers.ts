// Helpers for the LINE tests: a tenant whose LINE channel keeps its access token and channel
// secret in the tenant's vault, webhook bodies shaped like LINE's, deliveries signed the way LINE
// signs them (node:crypto here, independently of workers/channels/line.ts), and what the fake
// Messaging API (test/fakes/line.ts) received.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createHmac, randomBytes } from "node:crypto";
import type { LineCalls, LineSentMessage } from "../fakes/line.ts";
import { BASE, type TestTenant } from "../gateway/helpers.ts";
import { setupVaultAccount, type AgentOptions } from "./helpers.ts";

export interface LineSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  accessToken: string;
  channelSecret: string;
  botUserId: string;
}

export function lineUserId(prefix: "U" | "C" | "R" = "U"): string {
  return `${prefix}${randomBytes(16).toString("hex")}`;
}

// A ULID-shaped webhook event id, unique across tests.
export function eventId(): string {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  return Array.from(randomBytes(26), (b) => alphabet[b % 32]).join("");
}

export async function setupLine(options: { limits?: Record<string, number>; sendIntervalMs?: number; agent?: AgentOptions; botUsername?: boolean } = {}): Promise<LineSetup> {
  // A token per test: the fake records per token, so tests never see each other's messages.
  const accessToken = `lct-${crypto.randomUUID()}`;
  const channelSecret = randomBytes(16).toString("hex");
  const botUserId = lineUserId("U");
  const { tenant, agentId, account } = await setupVaultAccount(
    { "line-token": accessToken, "line-secret": channelSecret },
    {
      channel: "line",
      name: "oa",
      api_base_url: env.FAKE_LINE_URL,
      token_ref: "vault:line-token",
      signing_secret_ref: "vault:line-secret",
      ...(options.botUsername === false ? {} : { bot_username: botUserId }),
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.limits ? { limits: options.limits } : {}),
    },
    options.agent,
  );
  return { tenant, agentId, accountId: account.id, accessToken, channelSecret, botUserId };
}

// LINE's signature: base64 HMAC-SHA256 of the raw body with the channel secret.
export function lineSignature(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64");
}

export function webhookBody(s: LineSetup, events: object[]): { destination: string; events: object[] } {
  return { destination: s.botUserId, events };
}

export interface DeliverOptions {
  secret?: string;
  // null: no header at all
  signature?: string | null;
}

export async function deliverLine(s: LineSetup, body: string | object, o: DeliverOptions = {}): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  const signature = o.signature === undefined ? lineSignature(o.secret ?? s.channelSecret, raw) : o.signature;
  if (signature !== null) headers["x-line-signature"] = signature;
  return SELF.fetch(`${BASE}/webhooks/line/${s.accountId}`, { method: "POST", headers, body: raw });
}

export type Source = { type: "user"; userId: string } | { type: "group"; groupId: string; userId?: string } | { type: "room"; roomId: string; userId?: string };

export interface EventOptions {
  replyToken?: string;
  timestamp?: number;
  redelivery?: boolean;
  webhookEventId?: string;
  mode?: "active" | "standby";
}

let messageSeq = Math.floor(Math.random() * 1e9);
export function messageIdOf(): string {
  return String(500_000_000_000_000 + ++messageSeq);
}

export function messageEvent(source: Source, message: Record<string, unknown>, o: EventOptions = {}) {
  return {
    type: "message",
    mode: o.mode ?? "active",
    timestamp: o.timestamp ?? Date.now(),
    source,
    webhookEventId: o.webhookEventId ?? eventId(),
    deliveryContext: { isRedelivery: o.redelivery ?? false },
    ...(o.replyToken !== undefined ? { replyToken: o.replyToken } : {}),
    message: { id: messageIdOf(), ...message },
  };
}

export function textEvent(source: Source, text: string, o: EventOptions & { mention?: object[] } = {}) {
  return messageEvent(source, { type: "text", quoteToken: "q", text, ...(o.mention ? { mention: { mentionees: o.mention } } : {}) }, o);
}

export function dm(userId: string): Source {
  return { type: "user", userId };
}

function control(s: LineSetup | string, action: string): string {
  const token = typeof s === "string" ? s : s.accessToken;
  return `${env.FAKE_LINE_URL}/control/${encodeURIComponent(token)}/${action}`;
}

// A reply token the fake will accept once for that chat (LINE puts one in each message event).
export async function issueReplyToken(s: LineSetup, to: string): Promise<string> {
  return ((await (await fetch(control(s, "reply-token"), { method: "POST", body: JSON.stringify({ to }) })).json()) as { replyToken: string }).replyToken;
}

export async function lineSent(s: LineSetup, to?: string): Promise<LineSentMessage[]> {
  const all = (await (await fetch(control(s, "sent"))).json()) as LineSentMessage[];
  return to === undefined ? all : all.filter((m) => m.to === to);
}

export async function lineCalls(s: LineSetup): Promise<LineCalls> {
  return (await (await fetch(control(s, "calls"))).json()) as LineCalls;
}

export async function lineFail(s: LineSetup, kind: "429" | "monthly" | "500" | "stall" | "drop" | "status", times: number, extra: { status?: number; message?: string } = {}): Promise<void> {
  await fetch(control(s, "fail"), { method: "POST", body: JSON.stringify({ kind, times, ...extra }) });
}

export async function lineReplyTokenTtl(s: LineSetup, ms: number): Promise<void> {
  await fetch(control(s, "config"), { method: "POST", body: JSON.stringify({ reply_token_ttl_ms: ms }) });
}

export function lineSessionKey(s: LineSetup, scope: string): string {
  return `${s.tenant.tenantId}/${s.agentId}/line/${s.accountId}/${scope}`;
}

export async function statusOf(res: Response): Promise<string> {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { status: string }).status;
}
