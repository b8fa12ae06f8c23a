// Helpers for the Feishu / Lark tests (and the e2e/bench drivers: feishuEncrypt, feishuSign and
// signedFeishuDelivery need nothing but node:crypto): a tenant whose Feishu app keeps its App
// Secret and Encrypt Key in the tenant's vault, v2 event bodies shaped like Feishu's, encrypted
// and signed the way Feishu does it (node:crypto here, independently of
// workers/channels/feishu-crypto.ts), and what the fake Open API (test/fakes/feishu.ts) received.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { fakeFeishuSecret, type FeishuCalls, type FeishuSentMessage } from "../fakes/feishu.ts";
import { admin, BASE, type TestTenant } from "../gateway/helpers.ts";
import { setupVaultAccount, type AgentOptions } from "./helpers.ts";

// Feishu's event encryption: AES-256-CBC, key SHA-256(Encrypt Key), a random IV put first,
// PKCS#7 padding, base64 of iv + ciphertext.
export function feishuEncrypt(encryptKey: string, plaintext: string, iv: Buffer = randomBytes(16)): string {
  const key = createHash("sha256").update(encryptKey).digest();
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final()]).toString("base64");
}

// X-Lark-Signature: hex SHA-256 of timestamp + nonce + Encrypt Key + raw body.
export function feishuSign(timestamp: string, nonce: string, encryptKey: string, body: string): string {
  return createHash("sha256").update(timestamp + nonce + encryptKey + body).digest("hex");
}

// The headers and body of one delivery as Feishu posts it: the event encrypted, then signed.
export function signedFeishuDelivery(encryptKey: string, event: object, o: { timestamp?: number; nonce?: string } = {}): { headers: Record<string, string>; body: string } {
  const body = JSON.stringify({ encrypt: feishuEncrypt(encryptKey, JSON.stringify(event)) });
  const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = o.nonce ?? randomBytes(8).toString("hex");
  return {
    headers: { "content-type": "application/json; charset=utf-8", "x-lark-request-timestamp": timestamp, "x-lark-request-nonce": nonce, "x-lark-signature": feishuSign(timestamp, nonce, encryptKey, body) },
    body,
  };
}

export function feishuId(prefix: "ou" | "oc" | "om" | "omt"): string {
  return `${prefix}_${randomBytes(16).toString("hex")}`;
}

export interface FeishuSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  appId: string;
  encryptKey: string;
  botOpenId: string;
}

export async function setupFeishu(options: { limits?: Record<string, number>; sendIntervalMs?: number; agent?: AgentOptions; botOpenId?: boolean; host?: "feishu" | "lark" } = {}): Promise<FeishuSetup> {
  // An app per test: the fake records per app, so tests never see each other's messages.
  const appId = `cli_${randomBytes(8).toString("hex")}`;
  const encryptKey = randomBytes(16).toString("hex");
  const botOpenId = feishuId("ou");
  const { tenant, agentId, account } = await setupVaultAccount(
    { "feishu-secret": fakeFeishuSecret(appId), "feishu-encrypt": encryptKey },
    {
      channel: "feishu",
      name: "app",
      api_base_url: env.FAKE_FEISHU_URL,
      token_ref: "vault:feishu-secret",
      signing_secret_ref: "vault:feishu-encrypt",
      feishu: { app_id: appId, host: options.host ?? "feishu", ...(options.botOpenId === false ? {} : { bot_open_id: botOpenId }) },
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.limits ? { limits: options.limits } : {}),
    },
    options.agent,
  );
  return { tenant, agentId, accountId: account.id, appId, encryptKey, botOpenId };
}

export interface MessageOptions {
  chatType?: "p2p" | "group";
  chatId?: string;
  messageType?: string;
  // the content object (JSON-encoded into message.content); default {text}
  content?: object;
  mentions?: { key: string; openId: string; name?: string }[];
  eventId?: string;
  messageId?: string;
  threadId?: string;
  senderType?: string;
  appId?: string;
}

// An im.message.receive_v1 event (schema 2.0) from `sender` in `chatId`.
export function messageEvent(s: Pick<FeishuSetup, "appId">, sender: string, text: string, o: MessageOptions = {}) {
  return {
    schema: "2.0",
    header: { event_id: o.eventId ?? randomBytes(16).toString("hex"), event_type: "im.message.receive_v1", create_time: String(Date.now()), token: "verification-token", app_id: o.appId ?? s.appId, tenant_key: "tenant-key" },
    event: {
      sender: { sender_id: { open_id: sender, union_id: `on_${sender.slice(3)}`, user_id: null }, sender_type: o.senderType ?? "user", tenant_key: "tenant-key" },
      message: {
        message_id: o.messageId ?? feishuId("om"),
        create_time: String(Date.now()),
        chat_id: o.chatId ?? feishuId("oc"),
        chat_type: o.chatType ?? "p2p",
        message_type: o.messageType ?? "text",
        content: JSON.stringify(o.content ?? { text }),
        ...(o.threadId ? { thread_id: o.threadId } : {}),
        ...(o.mentions ? { mentions: o.mentions.map((m) => ({ key: m.key, id: { open_id: m.openId, union_id: "on_x", user_id: null }, name: m.name ?? "someone", tenant_key: "tenant-key" })) } : {}),
      },
    },
  };
}

export interface DeliverOptions {
  key?: string;
  timestamp?: number;
  // true: no signature headers at all (the Request URL check comes so)
  unsigned?: boolean;
  signature?: string;
}

// Posts `event` (an object, encrypted and signed; or a raw body string, signed as is).
export async function deliverFeishu(s: FeishuSetup, event: object | string, o: DeliverOptions = {}): Promise<Response> {
  const key = o.key ?? s.encryptKey;
  const body = typeof event === "string" ? event : JSON.stringify({ encrypt: feishuEncrypt(key, JSON.stringify(event)) });
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  if (!o.unsigned) {
    const timestamp = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = randomBytes(8).toString("hex");
    headers["x-lark-request-timestamp"] = timestamp;
    headers["x-lark-request-nonce"] = nonce;
    headers["x-lark-signature"] = o.signature ?? feishuSign(timestamp, nonce, key, body);
  }
  return SELF.fetch(`${BASE}/webhooks/feishu/${s.accountId}`, { method: "POST", headers, body });
}

function control(s: FeishuSetup | string, action: string): string {
  const app = typeof s === "string" ? s : s.appId;
  return `${env.FAKE_FEISHU_URL}/control/${encodeURIComponent(app)}/${action}`;
}

async function post(url: string, body: object = {}): Promise<void> {
  const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
  await res.body?.cancel();
}

// Tells the fake a user sent this message in this chat (a group answer replies to it).
export async function announceInbound(s: FeishuSetup, messageId: string, chatId: string): Promise<void> {
  await post(control(s, "inbound"), { message_id: messageId, chat_id: chatId });
}

export async function feishuSent(s: FeishuSetup, chatId?: string): Promise<FeishuSentMessage[]> {
  const all = (await (await fetch(control(s, "sent"))).json()) as FeishuSentMessage[];
  return chatId === undefined ? all : all.filter((m) => m.chatId === chatId);
}

export async function feishuCalls(s: FeishuSetup): Promise<FeishuCalls> {
  return (await (await fetch(control(s, "calls"))).json()) as FeishuCalls;
}

export async function feishuFail(s: FeishuSetup, kind: "rate" | "rate400" | "chat-rate" | "500" | "stall" | "drop" | "invalid-token" | "status", times: number, extra: { status?: number; code?: number; reset_s?: number } = {}): Promise<void> {
  await post(control(s, "fail"), { kind, times, ...extra });
}

export async function feishuConfig(s: FeishuSetup, expireS: number): Promise<void> {
  await post(control(s, "config"), { expire_s: expireS });
}

export async function feishuExpireTokens(s: FeishuSetup): Promise<void> {
  await post(control(s, "expire"));
}

export function feishuSessionKey(s: FeishuSetup, scope: string): string {
  return `${s.tenant.tenantId}/${s.agentId}/feishu/${s.accountId}/${scope}`;
}

// The tenant's session keys (the index is written after an accept: wait for it where one is expected).
export async function feishuSessions(s: FeishuSetup): Promise<string[]> {
  return (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: { key: string }) => x.key);
}

export async function statusOf(res: Response): Promise<string> {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { status: string }).status;
}
