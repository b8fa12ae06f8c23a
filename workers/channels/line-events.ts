// LINE webhook events into InboundMessages (the parse half of ./line.ts).
//   message events  text; image/video/audio/file/location/sticker as text placeholders naming
//                   the message id (the agent sees that something was sent; the content stays at
//                   LINE). Everything else (follow, unfollow, join, leave, postback, unsend...) is
//                   acknowledged and ignored, and so is an event in "standby" mode (another
//                   channel answers that chat)
//   chats           a 1:1 chat (source user) is a DM; a group or a multi-person room is a group,
//                   answered only when the text mentions the bot (a mentionee with isSelf, or the
//                   bot's user id), the mention cut out of the text by its index and length
//   dedupe          webhookEventId (a ULID, repeated by a redelivery), else the message id
//   reply token     carried in replyToId as "rt:<issued at ms>:<token>" for the send (./line-api.ts);
//                   a redelivered event (deliveryContext.isRedelivery) carries none: its token is
//                   as old as the first delivery and is not used
import type { InboundMessage } from "../../schema/channels.ts";
import { lineMessageEvent, lineReplyToken, type LineMessage, type LineMessageEvent } from "../../schema/line.ts";
import { parseOr400 } from "../http/validation.ts";
import type { AccountConfig } from "./types.ts";

const REPLY_TOKEN_PREFIX = "rt:";

export function replyTokenRef(issuedAt: number, token: string): string {
  return `${REPLY_TOKEN_PREFIX}${Math.max(0, Math.floor(issuedAt))}:${token}`;
}

// The reply token and when LINE issued it; null for anything else or a malformed reference (never
// put in a request).
export function replyTokenOf(replyToId: string | null): { issuedAt: number; token: string } | null {
  if (replyToId === null || !replyToId.startsWith(REPLY_TOKEN_PREFIX)) return null;
  const rest = replyToId.slice(REPLY_TOKEN_PREFIX.length);
  const colon = rest.indexOf(":");
  if (colon < 1 || colon > 15) return null;
  const at = rest.slice(0, colon);
  const token = rest.slice(colon + 1);
  if (!/^\d{1,15}$/.test(at) || !lineReplyToken.safeParse(token).success) return null;
  return { issuedAt: Number(at), token };
}

function commandWord(text: string): "start" | "reset" | null {
  const word = text.trim().toLowerCase();
  return word === "reset" || word === "start" ? word : null;
}

// The ranges of the text that mention this bot; none: the bot is not addressed.
function selfMentions(m: LineMessage, botUserId: string | null): { index: number; length: number }[] {
  return (m.mention?.mentionees ?? []).filter((x) => x.isSelf === true || (botUserId !== null && x.userId === botUserId && x.type !== "all"));
}

// The text with each range cut out (last first, so earlier indexes stay right); a range outside
// the text is skipped. The words on either side of a cut meet with one space.
export function cutMentions(text: string, ranges: { index: number; length: number }[]): string {
  let out = text;
  const sorted = [...ranges].sort((a, b) => b.index - a.index);
  let lastStart = Infinity;
  for (const r of sorted) {
    const end = r.index + r.length;
    // Overlapping or out-of-range mentions (a malformed event) are not cut twice.
    if (r.length === 0 || end > out.length || end > lastStart) continue;
    const before = out.slice(0, r.index).trimEnd();
    const after = out.slice(end).trimStart();
    out = before && after ? `${before} ${after}` : before + after;
    lastStart = r.index;
  }
  return out.trim();
}

// What a non-text message says to the agent.
function placeholder(m: LineMessage): string {
  switch (m.type) {
    case "file":
      return `[file: ${m.fileName ?? m.id} (${m.id})]`;
    case "location": {
      const where = [m.title, m.address].filter((x): x is string => typeof x === "string" && x.length > 0).join(", ");
      const at = m.latitude !== undefined && m.longitude !== undefined ? ` ${m.latitude},${m.longitude}` : "";
      return `[location: ${where || "shared"}${at}]`;
    }
    case "sticker":
      return `[sticker ${m.packageId ?? "?"}/${m.stickerId ?? "?"}]`;
    default:
      return `[${m.type} ${m.id}]`;
  }
}

// One LINE event as an InboundMessage, or null when it needs no answer.
export function lineEventMessage(raw: { type: string }, account: AccountConfig, destination: string, now: number): InboundMessage | null {
  if (raw.type !== "message") return null;
  const e: LineMessageEvent = parseOr400(lineMessageEvent, raw);
  if (e.mode === "standby") return null;
  const m = e.message;
  const source = e.source;
  const group = source.type === "group" ? source.groupId : source.type === "room" ? source.roomId : null;
  // The account's bot user id, else the webhook's destination (which is that id).
  const bot = account.botUsername ?? destination;
  let text: string;
  if (m.type === "text") {
    const raw = m.text ?? "";
    const mine = selfMentions(m, bot);
    // In a group or room the bot answers only when addressed.
    if (group !== null && mine.length === 0) return null;
    text = cutMentions(raw, mine);
  } else {
    // A photo or a sticker cannot mention anyone: in a group it is not for the bot.
    if (group !== null) return null;
    text = placeholder(m);
  }
  if (text === "") return null;
  const peer = source.userId ?? group ?? "unknown";
  const chatId = group ?? (source.type === "user" ? source.userId : peer);
  const redelivered = e.deliveryContext?.isRedelivery === true;
  // The token's minute started when LINE sent the event: the earlier of its timestamp and now.
  const issuedAt = Math.min(now, e.timestamp);
  const attachments = m.type === "text" ? [] : [{ kind: m.type, ref: m.id }];
  return {
    tenantId: account.tenantId,
    channel: "line",
    accountId: account.id,
    peerId: peer,
    groupId: group,
    threadId: null,
    chatId,
    messageId: e.webhookEventId ?? `msg:${m.id}`,
    replyToId: e.replyToken !== undefined && !redelivered ? replyTokenRef(issuedAt, e.replyToken) : null,
    text,
    command: m.type === "text" ? commandWord(text) : null,
    sender: { id: peer, name: null },
    attachments,
    callbackUrl: null,
    receivedAt: now,
  };
}
