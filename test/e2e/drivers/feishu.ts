// The Feishu / Lark driver for the channels e2e and benchmark (../channel-drivers.ts): a custom
// app whose App Secret and Encrypt Key are Worker secrets (FEISHU_*), im.message.receive_v1 events
// (schema 2.0) in p2p chats, encrypted and signed as Feishu does it (node:crypto here,
// independently of workers/channels/feishu-crypto.ts): the event JSON is AES-256-CBC encrypted
// with SHA-256(Encrypt Key), a random IV first, base64, posted as {"encrypt": ...}, and
// X-Lark-Signature = hex SHA-256(timestamp + nonce + Encrypt Key + raw body). Replies are read
// from the fake Open API's records of im/v1/messages (test/fakes/feishu.ts).
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { fakeFeishuSecret, type FeishuCalls, type FeishuSentMessage } from "../../fakes/feishu.ts";
import type { ChannelDriver, DriverContext } from "../channel-drivers.ts";

// Worker secrets (.dev.vars) the account references; Feishu's references carry the FEISHU_ prefix.
export const FEISHU_APP_ID = "cli_channelsstack0001";
// The App Secret the fake accepts for that App ID.
export const FEISHU_APP_SECRET = fakeFeishuSecret(FEISHU_APP_ID);
export const FEISHU_SECRET_REF = "FEISHU_STACK_APP_SECRET";
export const FEISHU_ENCRYPT_KEY = "channels-stack-feishu-encrypt-key-0123";
export const FEISHU_ENCRYPT_REF = "FEISHU_STACK_ENCRYPT_KEY";
const FEISHU_BOT_OPEN_ID = "ou_channelsstackbot0001";

const hex32 = (what: string) => createHash("sha256").update(what).digest("hex").slice(0, 32);
// The p2p chat (oc_...) of chat number `chat`, and its user (ou_...).
const chatIdOf = (chat: number) => `oc_${hex32(`feishu-chat-${chat}`)}`;
const userOf = (chat: number) => `ou_${hex32(`feishu-user-${chat}`)}`;

export function feishuEncrypt(encryptKey: string, plaintext: string): string {
  const key = createHash("sha256").update(encryptKey).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final()]).toString("base64");
}

export function feishuSign(timestamp: string, nonce: string, encryptKey: string, body: string): string {
  return createHash("sha256").update(timestamp + nonce + encryptKey + body).digest("hex");
}

// A user's text message `seq` in p2p chat `chat` as Feishu's event (before encryption).
export function feishuTextEvent(seq: number, chat: number, text: string) {
  const now = String(Date.now());
  return {
    schema: "2.0",
    header: { event_id: `ev${hex32(`feishu-event-${seq}`)}`, event_type: "im.message.receive_v1", create_time: now, token: "verification-token", app_id: FEISHU_APP_ID, tenant_key: "stack-tenant" },
    event: {
      sender: { sender_id: { open_id: userOf(chat), union_id: `on_${hex32(`feishu-union-${chat}`)}`, user_id: null }, sender_type: "user", tenant_key: "stack-tenant" },
      message: { message_id: `om_${hex32(`feishu-message-${seq}`)}`, create_time: now, chat_id: chatIdOf(chat), chat_type: "p2p", message_type: "text", content: JSON.stringify({ text }) },
    },
  };
}

export interface FeishuDriver extends ChannelDriver {
  // What the fake counted for this app (token fetches, creates, uuid-deduped resends...).
  calls(): Promise<FeishuCalls>;
  // The next `times` message calls are executed at the fake and their answers lost (the
  // connection is cut): the resend must be answered by its uuid.
  dropSends(times: number): Promise<void>;
}

export async function feishuDriver(ctx: DriverContext, fakeUrl: string): Promise<FeishuDriver> {
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "feishu",
    name: "feishu-app",
    api_base_url: fakeUrl,
    token_ref: FEISHU_SECRET_REF,
    signing_secret_ref: FEISHU_ENCRYPT_REF,
    feishu: { app_id: FEISHU_APP_ID, host: "feishu", bot_open_id: FEISHU_BOT_OPEN_ID },
    limits: ctx.limits,
  });
  const control = (action: string) => `${fakeUrl}/control/${encodeURIComponent(FEISHU_APP_ID)}/${action}`;
  return {
    platform: "feishu",
    accountId: account.id,
    chatKey: chatIdOf,
    delivery(chat, seq, text) {
      // Encrypted once: a retried delivery carries the same body, signed again with a fresh
      // timestamp and nonce as Feishu does.
      const body = JSON.stringify({ encrypt: feishuEncrypt(FEISHU_ENCRYPT_KEY, JSON.stringify(feishuTextEvent(seq, chat, text))) });
      return {
        path: `/webhooks/feishu/${account.id}`,
        body,
        headers() {
          const timestamp = String(Math.floor(Date.now() / 1000));
          const nonce = randomBytes(8).toString("hex");
          return {
            "content-type": "application/json; charset=utf-8",
            "x-lark-request-timestamp": timestamp,
            "x-lark-request-nonce": nonce,
            "x-lark-signature": feishuSign(timestamp, nonce, FEISHU_ENCRYPT_KEY, body),
          };
        },
      };
    },
    async sent() {
      const all = (await (await fetch(control("sent"))).json()) as FeishuSentMessage[];
      return all.map((m) => ({ chat: m.chatId, id: m.id, text: m.text, at: m.at }));
    },
    async dropSends(times) {
      const res = await fetch(control("fail"), { method: "POST", body: JSON.stringify({ kind: "drop", times }) });
      if (!res.ok) throw new Error(`fake feishu: fail answered ${res.status}`);
    },
    async platformCalls() {
      return { ...(await (await fetch(control("calls"))).json()) } as Record<string, number>;
    },
    async calls() {
      return (await (await fetch(control("calls"))).json()) as FeishuCalls;
    },
    // A p2p chat's session is its user's (dm:ou_...).
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/feishu/${account.id}/dm:${userOf(chat)}`,
    render: (text) => text,
  };
}
