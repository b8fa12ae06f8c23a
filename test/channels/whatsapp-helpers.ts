// Helpers for the WhatsApp tests: a tenant whose WhatsApp number keeps its access token and app
// secret in the tenant's vault, webhook bodies shaped like Meta's, deliveries signed the way Meta
// signs them (node:crypto here, independently of workers/channels/whatsapp.ts), and what the fake
// Cloud API (test/fakes/whatsapp.ts) received and would post back.
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createHmac, randomBytes, randomInt } from "node:crypto";
import type { StatusCallback, WhatsappCalls, WhatsappSentMessage } from "../fakes/whatsapp.ts";
import { admin, BASE, expectStatus, type TestTenant } from "../gateway/helpers.ts";
import { exportSession, setupVaultAccount, waitFor, type AgentOptions } from "./helpers.ts";

export interface WaSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  accessToken: string;
  appSecret: string;
  phoneNumberId: string;
  verifyToken: string;
}

export interface WaTemplate {
  name: string;
  language: string;
  text_parameter?: boolean;
}

export function waUser(): string {
  return `${randomInt(1, 9)}${String(randomInt(0, 1e9)).padStart(9, "0")}${String(randomInt(0, 1e3)).padStart(3, "0")}`;
}

export function wamid(): string {
  return `wamid.${randomBytes(24).toString("base64")}`;
}

export async function setupWhatsapp(options: { limits?: Record<string, number>; sendIntervalMs?: number; agent?: AgentOptions; template?: WaTemplate } = {}): Promise<WaSetup> {
  // A token per test: the fake records per token, so tests never see each other's messages.
  const accessToken = `EAA${randomBytes(24).toString("hex")}`;
  const appSecret = randomBytes(16).toString("hex");
  const phoneNumberId = String(randomInt(100_000_000, 999_999_999)) + String(randomInt(100_000, 999_999));
  const { tenant, agentId, account } = await setupVaultAccount(
    { "wa-token": accessToken, "wa-secret": appSecret },
    {
      channel: "whatsapp",
      name: "wa",
      api_base_url: env.FAKE_WHATSAPP_URL,
      token_ref: "vault:wa-token",
      signing_secret_ref: "vault:wa-secret",
      whatsapp: { phone_number_id: phoneNumberId, ...(options.template ? { template: options.template } : {}) },
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.limits ? { limits: options.limits } : {}),
    },
    options.agent,
  );
  await fetch(control(accessToken, "config"), { method: "POST", body: JSON.stringify({ app_secret: appSecret }) });
  return { tenant, agentId, accountId: account.id, accessToken, appSecret, phoneNumberId, verifyToken: account.webhook_secret as string };
}

// Meta's signature: "sha256=" and the hex HMAC-SHA256 of the raw body with the app secret.
export function hubSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

// A delivery: one entry, one "messages" change per value.
export function webhookBody(values: object[]): object {
  return { object: "whatsapp_business_account", entry: [{ id: "100000000000001", changes: values.map((value) => ({ field: "messages", value })) }] };
}

export function messagesValue(s: WaSetup | string, messages: object[], contacts: { wa_id: string; name: string }[] = []): object {
  const phoneNumberId = typeof s === "string" ? s : s.phoneNumberId;
  return {
    messaging_product: "whatsapp",
    metadata: { display_phone_number: "15550001111", phone_number_id: phoneNumberId },
    contacts: contacts.map((c) => ({ profile: { name: c.name }, wa_id: c.wa_id })),
    messages,
  };
}

export function textMessage(from: string, text: string, id = wamid()) {
  return { from, id, timestamp: String(Math.floor(Date.now() / 1000)), type: "text", text: { body: text } };
}

export function typedMessage(from: string, type: string, payload: object, id = wamid()) {
  return { from, id, timestamp: String(Math.floor(Date.now() / 1000)), type, [type]: payload };
}

// The simplest delivery: one text message for this number.
export function dmBody(s: WaSetup, from: string, text: string, id = wamid()): object {
  return webhookBody([messagesValue(s, [textMessage(from, text, id)])]);
}

export interface DeliverOptions {
  secret?: string;
  // null: no header at all
  signature?: string | null;
}

export async function deliverWa(s: WaSetup, body: string | object, o: DeliverOptions = {}): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json" };
  const signature = o.signature === undefined ? hubSignature(o.secret ?? s.appSecret, raw) : o.signature;
  if (signature !== null) headers["x-hub-signature-256"] = signature;
  return SELF.fetch(`${BASE}/webhooks/whatsapp/${s.accountId}`, { method: "POST", headers, body: raw });
}

export function handshake(s: WaSetup, params: Record<string, string>): Promise<Response> {
  return SELF.fetch(`${BASE}/webhooks/whatsapp/${s.accountId}?${new URLSearchParams(params).toString()}`);
}

function control(s: WaSetup | string, action: string): string {
  const token = typeof s === "string" ? s : s.accessToken;
  return `${env.FAKE_WHATSAPP_URL}/control/${encodeURIComponent(token)}/${action}`;
}

export async function waSent(s: WaSetup, to?: string): Promise<WhatsappSentMessage[]> {
  const all = (await (await fetch(control(s, "sent"))).json()) as WhatsappSentMessage[];
  return to === undefined ? all : all.filter((m) => m.to === to);
}

export async function waCalls(s: WaSetup): Promise<WhatsappCalls> {
  return (await (await fetch(control(s, "calls"))).json()) as WhatsappCalls;
}

export async function waFail(s: WaSetup, kind: "130429" | "131056" | "500" | "stall" | "drop" | "status", times: number, extra: { status?: number; code?: number; message?: string } = {}): Promise<void> {
  await fetch(control(s, "fail"), { method: "POST", body: JSON.stringify({ kind, times, ...extra }) });
}

export async function waWindow(s: WaSetup, to: string, open: boolean, sync = false): Promise<void> {
  await fetch(control(s, "window"), { method: "POST", body: JSON.stringify({ to, open, sync }) });
}

// Asks the fake for a status callback about one of its messages (default: failed).
export async function waStatus(s: WaSetup, id: string, status: Record<string, unknown> = {}): Promise<void> {
  await fetch(control(s, "status"), { method: "POST", body: JSON.stringify({ id, ...status }) });
}

// The status callbacks the fake would have posted: posted to the Worker here, as Meta would.
export async function forwardCallbacks(s: WaSetup): Promise<Response[]> {
  const callbacks = (await (await fetch(control(s, "callbacks"))).json()) as StatusCallback[];
  const answers: Response[] = [];
  for (const c of callbacks) {
    answers.push(await SELF.fetch(`${BASE}/webhooks/whatsapp/${s.accountId}`, { method: "POST", headers: { "content-type": "application/json", "x-hub-signature-256": c.signature }, body: c.body }));
  }
  return answers;
}

export function waSessionKey(s: WaSetup, user: string): string {
  return `${s.tenant.tenantId}/${s.agentId}/whatsapp/${s.accountId}/dm:${user}`;
}

// The chat's last inbound message moved `ms` into the past (the 24-hour window then closed).
export async function ageInbox(s: WaSetup, user: string, ms: number): Promise<void> {
  const stub = env.SESSIONS.get(env.SESSIONS.idFromName(waSessionKey(s, user)));
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec("UPDATE inbox SET received_at = received_at - ?", ms);
  });
}

export async function deadLetters(s: WaSetup): Promise<any[]> {
  return expectStatus(await admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), 200).body.data as any[];
}

export async function statusOf(res: Response): Promise<string> {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { status: string }).status;
}

// The chat's outbox once its first `n` intents are settled (none pending): a send's receipt is
// recorded when its answer is back, a moment after the fake recorded the message, and a `failed`
// status finds only a recorded receipt.
export async function outboxSettled(s: WaSetup, user: string, n: number): Promise<any[]> {
  return waitFor(async () => (await exportSession(s.tenant.owner, waSessionKey(s, user))).outbox as any[], (o) => o.length >= n && o.slice(0, n).every((x) => x.state !== "pending"));
}
