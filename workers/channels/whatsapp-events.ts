// WhatsApp webhook deliveries into InboundMessages and receipt failures (the parse half of
// ./whatsapp.ts).
//   messages   text; interactive replies (button_reply, list_reply) and a template's quick-reply
//              button as the text the user tapped; image/audio/video/document/sticker as a text
//              placeholder naming the media id (also in attachments: the content stays at Meta
//              until fetched with the token); location as a placeholder with its coordinates.
//              Reactions, and every other type (system, unsupported, order...), are acknowledged
//              and ignored
//   chats      the Cloud API gives a bot no groups: every message is a DM from its wa_id, so DM
//              policies (pairing, allowlists) apply as on the other platforms
//   numbers    a change for another phone number of the same Meta app (metadata.phone_number_id)
//              is not this account's and is ignored
//   dedupe     the message id (wamid): Meta signs no timestamp and redelivers for up to 7 days,
//              so a replayed or redelivered delivery is recognised by the account's ledger and
//              the session's inbox, which keep message ids for 7 days
//   statuses   only `failed` ones matter: each names the wamid our send returned (the outbox
//              receipt) and the platform's error; sent, delivered and read are ignored
import type { InboundMessage } from "../../schema/channels.ts";
import { WHATSAPP_MAX_MESSAGES, WHATSAPP_MAX_STATUSES, whatsappMessage, whatsappStatus, whatsappValue, whatsappWebhookBody, type WhatsappError, type WhatsappMessage, type WhatsappValue } from "../../schema/whatsapp.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, Delivery, ReceiptFailure } from "./types.ts";

// The re-engagement error: a free-form message outside the 24-hour customer-service window.
export const REENGAGEMENT_CODE = 131047;
export const OUTSIDE_WINDOW = "outside WhatsApp's 24-hour customer-service window";

// The "messages" changes of the delivery addressed to this account's number, in order. The route
// asks twice per delivery (its messages, then its failed statuses): the body, up to 1 MiB, is
// parsed and checked once.
const parsedValues = new WeakMap<Delivery, { account: string; values: WhatsappValue[] }>();
function valuesOf(delivery: Delivery, account: AccountConfig): WhatsappValue[] {
  const cached = parsedValues.get(delivery);
  if (cached && cached.account === account.id) return cached.values;
  const values = readValues(delivery, account);
  parsedValues.set(delivery, { account: account.id, values });
  return values;
}

function readValues(delivery: Delivery, account: AccountConfig): WhatsappValue[] {
  const body = parseOr400(whatsappWebhookBody, deliveryJson(delivery, "webhook body"));
  const mine = account.whatsapp?.phone_number_id ?? null;
  const values: WhatsappValue[] = [];
  let messages = 0;
  let statuses = 0;
  for (const entry of body.entry) {
    for (const change of entry.changes) {
      if (change.field !== "messages") continue;
      const value = parseOr400(whatsappValue, change.value);
      messages += value.messages?.length ?? 0;
      statuses += value.statuses?.length ?? 0;
      if (messages > WHATSAPP_MAX_MESSAGES || statuses > WHATSAPP_MAX_STATUSES) {
        throw new ApiError(400, "invalid_request", `A delivery carries at most ${WHATSAPP_MAX_MESSAGES} messages and ${WHATSAPP_MAX_STATUSES} statuses.`);
      }
      if (value.metadata.phone_number_id === mine) values.push(value);
    }
  }
  return values;
}

function commandWord(text: string): "start" | "reset" | null {
  const word = text.trim().toLowerCase();
  return word === "reset" || word === "start" || word === "/reset" || word === "/start" ? (word.replace("/", "") as "start" | "reset") : null;
}

const MEDIA = ["image", "audio", "video", "document", "sticker"] as const;

// What the message says to the agent, and its attachments; null: nothing to answer.
function contentOf(m: WhatsappMessage): { text: string; attachments: { kind: string; ref: string }[] } | null {
  switch (m.type) {
    case "text":
      return m.text ? { text: m.text.body.trim(), attachments: [] } : null;
    case "interactive": {
      const reply = m.interactive?.button_reply ?? m.interactive?.list_reply;
      return reply ? { text: (reply.title || reply.id).trim(), attachments: [] } : null;
    }
    case "button":
      return m.button ? { text: (m.button.text || m.button.payload || "").trim(), attachments: [] } : null;
    case "location": {
      const l = m.location;
      if (!l) return null;
      const where = [l.name, l.address].filter((x): x is string => typeof x === "string" && x.length > 0).join(", ");
      const at = l.latitude !== undefined && l.longitude !== undefined ? ` ${l.latitude},${l.longitude}` : "";
      return { text: `[location: ${where || "shared"}${at}]`, attachments: [] };
    }
    default: {
      const kind = (MEDIA as readonly string[]).includes(m.type) ? (m.type as (typeof MEDIA)[number]) : null;
      const object = kind ? m[kind] : undefined;
      if (!kind || !object) return null;
      const name = kind === "document" && object.filename ? ` ${object.filename}` : "";
      const caption = object.caption?.trim() ? ` ${object.caption.trim()}` : "";
      return { text: `[${kind}${name} ${object.id}]${caption}`, attachments: [{ kind, ref: object.id }] };
    }
  }
}

// Every user message of the delivery for this account's number that needs an answer.
export function whatsappMessages(delivery: Delivery, account: AccountConfig, now: number): InboundMessage[] {
  const out: InboundMessage[] = [];
  for (const value of valuesOf(delivery, account)) {
    const names = new Map((value.contacts ?? []).map((c) => [c.wa_id, c.profile?.name ?? null]));
    for (const raw of value.messages ?? []) {
      const m = parseOr400(whatsappMessage, raw);
      const content = contentOf(m);
      if (!content || content.text === "") continue;
      out.push({
        tenantId: account.tenantId,
        channel: "whatsapp",
        accountId: account.id,
        peerId: m.from,
        groupId: null,
        threadId: null,
        chatId: m.from,
        messageId: m.id,
        // The reply quotes the message it answers (context.message_id).
        replyToId: m.id,
        text: content.text,
        command: m.type === "text" ? commandWord(content.text) : null,
        sender: { id: m.from, name: names.get(m.from) ?? null },
        attachments: content.attachments,
        callbackUrl: null,
        receivedAt: now,
      });
    }
  }
  return out;
}

// The platform's error as stored in the dead letter: code, title and details.
export function errorText(e: WhatsappError | undefined): string {
  if (!e) return "whatsapp: the message failed (no error given)";
  const title = e.title ?? e.message ?? "";
  const details = e.error_data?.details ?? "";
  const why = e.code === REENGAGEMENT_CODE ? ` (${OUTSIDE_WINDOW})` : "";
  return `whatsapp ${e.code}: ${title.slice(0, 200)}${details && details !== title ? ` - ${details.slice(0, 200)}` : ""}${why}`;
}

// The `failed` statuses of the delivery for this account's number, in order.
export function whatsappFailures(delivery: Delivery, account: AccountConfig): ReceiptFailure[] {
  const out: ReceiptFailure[] = [];
  for (const value of valuesOf(delivery, account)) {
    for (const raw of value.statuses ?? []) {
      if (raw.status !== "failed") continue;
      // A failed status of a shape this code does not know (a group recipient, a wamid longer
      // than expected) is skipped, not a 400: the delivery is signed by Meta, and refusing it
      // would make Meta redeliver it, with the messages beside it, for days.
      const parsed = whatsappStatus.safeParse(raw);
      if (!parsed.success) {
        console.warn(JSON.stringify({ level: "warn", msg: "whatsapp failed status skipped: unknown shape", account: account.id }));
        continue;
      }
      const s = parsed.data;
      out.push({ chatId: s.recipient_id, peerId: s.recipient_id, groupId: null, threadId: null, receipt: s.id, error: errorText(s.errors?.[0]) });
    }
  }
  return out;
}
