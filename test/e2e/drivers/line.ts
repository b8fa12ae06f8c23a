// The LINE driver for the channels e2e and benchmark (../channel-drivers.ts): a Messaging API
// channel whose access token and channel secret are Worker secrets (LINE_*), message events in a
// webhook signed like LINE signs them (X-Line-Signature: base64 HMAC-SHA256 of the raw body with
// the channel secret, node:crypto here, independently of workers/channels/line.ts), replies read
// from the fake Messaging API (test/fakes/line.ts).
// Each event carries a reply token the driver registers at the fake before the first delivery
// (LINE issues one per message event). While a token is valid the reply goes by it; the kill e2e
// makes the fake refuse every token (pushOnly) so each reply is a push with its X-Line-Retry-Key.
import { createHash, createHmac } from "node:crypto";
import type { LineCalls, LineSentMessage } from "../../fakes/line.ts";
import type { ChannelDriver, DriverContext } from "../channel-drivers.ts";

// Worker secrets (.dev.vars) the account references; LINE's references carry the LINE_ prefix.
export const LINE_ACCESS_TOKEN = "lct-channels-stack-line";
export const LINE_TOKEN_REF = "LINE_STACK_TOKEN";
export const LINE_CHANNEL_SECRET = "channels-stack-line-secret-0123456789";
export const LINE_SECRET_REF = "LINE_STACK_SECRET";
// The bot's own user id: the webhook's destination.
const LINE_BOT_USER = `U${"b07".padEnd(32, "0")}`;

// A user id (U + 32 hex digits) for chat number `chat`.
const lineUser = (chat: number) => `U${createHash("sha256").update(`line-user-${chat}`).digest("hex").slice(0, 32)}`;
// A ULID-shaped webhook event id and a 32-hex reply token, both unique per message `seq`.
const eventIdOf = (seq: number) => `01J${seq.toString(32).toUpperCase().padStart(23, "0")}`;
const replyTokenOf = (seq: number) => createHash("sha256").update(`line-reply-${seq}`).digest("hex").slice(0, 32);

export function lineSignature(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64");
}

export function lineTextEvent(seq: number, chat: number, text: string) {
  return {
    destination: LINE_BOT_USER,
    events: [
      {
        type: "message",
        mode: "active",
        timestamp: Date.now(),
        source: { type: "user", userId: lineUser(chat) },
        webhookEventId: eventIdOf(seq),
        deliveryContext: { isRedelivery: false },
        replyToken: replyTokenOf(seq),
        message: { id: String(600_000_000_000_000 + seq), type: "text", quoteToken: `q${seq}`, text },
      },
    ],
  };
}

export interface LineDriver extends ChannelDriver {
  // What the fake counted for this channel (reply/push calls, 409s for a known retry key, held pushes).
  calls(): Promise<LineCalls>;
  // Every message the fake delivered, with the retry key of the push that carried it.
  delivered(): Promise<LineSentMessage[]>;
  // From now on the fake refuses every reply token (as if each expired at once): every reply is a push.
  pushOnly(): Promise<void>;
  // The next `times` pushes are executed at the fake and never answered (a crash mid-push).
  holdPushes(times: number): Promise<void>;
}

export async function lineDriver(ctx: DriverContext, fakeUrl: string): Promise<LineDriver> {
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "line",
    name: "oa",
    api_base_url: fakeUrl,
    token_ref: LINE_TOKEN_REF,
    signing_secret_ref: LINE_SECRET_REF,
    bot_username: LINE_BOT_USER,
    limits: ctx.limits,
  });
  const control = (action: string) => `${fakeUrl}/control/${encodeURIComponent(LINE_ACCESS_TOKEN)}/${action}`;
  const post = async (action: string, body: unknown) => {
    const res = await fetch(control(action), { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`fake line: ${action} answered ${res.status}`);
  };
  const delivered = async () => (await (await fetch(control("sent"))).json()) as LineSentMessage[];
  return {
    platform: "line",
    accountId: account.id,
    chatKey: lineUser,
    delivery(chat, seq, text) {
      const body = JSON.stringify(lineTextEvent(seq, chat, text));
      let registered: Promise<void> | null = null;
      return {
        path: `/webhooks/line/${account.id}`,
        body,
        // LINE signs the body only; a redelivery of the same body carries the same signature.
        headers: () => ({ "content-type": "application/json; charset=utf-8", "x-line-signature": lineSignature(LINE_CHANNEL_SECRET, body) }),
        // The event's reply token, known to the fake before LINE delivers the event (once: a
        // second registration would make a used token valid again).
        prepare() {
          registered ??= post("reply-token", { to: lineUser(chat), replyToken: replyTokenOf(seq) });
          return registered;
        },
      };
    },
    // A reply that went out again after a 409 carries the first request's id as its receipt
    // (x-line-accepted-request-id), so each message is known by its request id too.
    async sent() {
      return (await delivered()).map((m) => ({ chat: m.to, id: m.id, aliases: [m.requestId], text: m.text, at: m.at }));
    },
    delivered,
    async calls() {
      return (await (await fetch(control("calls"))).json()) as LineCalls;
    },
    async platformCalls() {
      return { ...(await (await fetch(control("calls"))).json()) } as Record<string, number>;
    },
    pushOnly: () => post("config", { reply_token_ttl_ms: -1 }),
    holdPushes: (times) => post("fail", { kind: "hold", times }),
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/line/${account.id}/dm:${lineUser(chat)}`,
    render: (text) => text,
  };
}
