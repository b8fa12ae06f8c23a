// Feishu / Lark events into InboundMessages (the parse half of ./feishu.ts), from the decrypted
// body (./feishu-crypto.ts):
//   url_verification  the handshake: answered {challenge}, nothing recorded
//   v2 events         schema "2.0"; header.app_id must be the account's App ID (an event for
//                     another app is acknowledged and ignored, never answered); only
//                     im.message.receive_v1 is read, every other event type is acknowledged
//   senders           sender_type "user" only: bots and apps (our own replies included) are ignored
//   chats             p2p is a DM (peer: the sender's open_id); a group is answered only when a
//                     mention's open_id is the account's bot_open_id. Without bot_open_id the
//                     bot answers DMs only: Feishu delivers a group message that @-mentions
//                     anyone once the app holds the "read all group messages" scope, so a
//                     mention alone does not prove the bot was addressed
//   text              the bot's @_user_N keys are cut out, other mentions become @name; post
//                     (rich text) is flattened to its text; image, file, audio, media and sticker
//                     become placeholders naming their keys (the content stays at Feishu), and in
//                     a group they are not for the bot (they cannot mention it)
//   dedupe            header.event_id (a redelivery repeats it), the ledger and inbox key
//   replies           a group message or one in a thread is answered as a reply to it
//                     (replyToId: its message_id; in a thread, reply_in_thread), a DM as a new message
import { feishuEventEnvelope, feishuFileContent, feishuMessageEvent, feishuPostContent, feishuTextContent, feishuUrlVerification, type FeishuMessageEvent } from "../../schema/feishu.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, Delivery } from "./types.ts";

const FEISHU_MESSAGE_EVENT = "im.message.receive_v1";
// The most text one message gives the agent. Feishu bounds a text message to 150 KB of request
// body, so only mention expansion (a key repeated, each becoming a 256-character name) or a
// post's elements could go past it: cut there rather than hand a session megabytes.
export const FEISHU_MAX_INBOUND_TEXT = 150_000;

function bounded(text: string): string {
  if (text.length <= FEISHU_MAX_INBOUND_TEXT) return text;
  let end = FEISHU_MAX_INBOUND_TEXT;
  // Never split a surrogate pair.
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return text.slice(0, end);
}

type Mention = NonNullable<FeishuMessageEvent["message"]["mentions"]>[number];

export function feishuHandshake(delivery: Delivery): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(delivery.body);
  } catch {
    return null;
  }
  const check = feishuUrlVerification.safeParse(value);
  return check.success ? { challenge: check.data.challenge } : null;
}

function commandWord(text: string): "start" | "reset" | null {
  const word = text.trim().toLowerCase();
  return word === "reset" || word === "start" ? word : null;
}

// message.content is JSON inside the event's JSON: held to the same bounds as a delivery body.
function contentJson(content: string): unknown {
  return deliveryJson({ headers: new Headers(), body: content }, "message.content");
}

// The text with the bot's mention keys cut and the others named, in one pass over the text (a
// name put in is never scanned again). At each "@_" the longest key that matches is taken, so
// "@_user_1" never eats the start of "@_user_10". A cut key takes one following space with it;
// the rest of the text (a code block's indentation) is kept as it is.
function renderMentions(text: string, mentions: Mention[], botOpenId: string | null): string {
  if (mentions.length === 0) return bounded(text.trim());
  const sorted = [...mentions].sort((a, b) => b.key.length - a.key.length);
  let out = "";
  let from = 0;
  for (let at = text.indexOf("@_"); at !== -1; at = text.indexOf("@_", at)) {
    const m = sorted.find((x) => text.startsWith(x.key, at));
    if (!m) {
      at += 2;
      continue;
    }
    // Past the bound the rest is cut anyway (bounded): stop building.
    if (out.length > FEISHU_MAX_INBOUND_TEXT) return bounded(out);
    out += text.slice(from, at);
    at += m.key.length;
    if (botOpenId !== null && m.id.open_id === botOpenId) {
      if (text[at] === " ") at++;
    } else out += `@${m.name ?? "user"}`;
    from = at;
  }
  return bounded((out + text.slice(from)).trim());
}

function postText(content: unknown, mentions: Mention[], botOpenId: string | null): string {
  const post = parseOr400(feishuPostContent, content);
  const lines: string[] = [];
  if (post.title) lines.push(post.title);
  for (const paragraph of post.content) {
    let line = "";
    for (const el of paragraph) {
      if (el.tag === "text" || el.tag === "a") line += el.text ?? "";
      else if (el.tag === "at") line += el.user_id ?? "";
      else if (el.tag === "img") line += `[image ${el.image_key ?? "?"}]`;
    }
    lines.push(line);
  }
  return renderMentions(lines.join("\n"), mentions, botOpenId);
}

function placeholder(type: string, content: unknown): { text: string; ref: string } {
  const c = feishuFileContent.safeParse(content);
  const key = (c.success ? (c.data.image_key ?? c.data.file_key) : undefined) ?? "?";
  if (type === "file") return { text: `[file: ${(c.success ? c.data.file_name : undefined) ?? key} (${key})]`, ref: key };
  return { text: `[${type === "media" ? "video" : type} ${key}]`, ref: key };
}

const MEDIA = new Set(["image", "file", "audio", "media", "sticker"]);

// The one message of a verified, decrypted delivery that needs an answer, or null.
export function feishuMessage(delivery: Delivery, account: AccountConfig, now: number): InboundMessage | null {
  // Only a signed delivery carries a message. verify lets an unsigned one through only as a
  // complete url_verification, which handshake answers before parse; this keeps it so if the
  // two ever drift apart.
  if (delivery.headers.get("x-lark-signature") === null) return null;
  const body = deliveryJson(delivery, "decrypted event");
  if (feishuUrlVerification.safeParse(body).success) return null;
  // v1 events (no schema) are from apps set up before 2.0; EdgeClaw subscribes to 2.0 only.
  if (typeof body !== "object" || body === null || !("schema" in body)) return null;
  const envelope = parseOr400(feishuEventEnvelope, body);
  if (account.feishu === undefined || envelope.header.app_id !== account.feishu.app_id) {
    console.warn(JSON.stringify({ level: "warn", msg: "feishu event for another app ignored", account: account.id }));
    return null;
  }
  if (envelope.header.event_type !== FEISHU_MESSAGE_EVENT) return null;
  const e = parseOr400(feishuMessageEvent, envelope.event);
  if (e.sender.sender_type !== "user") return null;
  const sender = e.sender.sender_id?.open_id;
  if (!sender || !/^[A-Za-z0-9_-]{1,128}$/.test(sender)) throw new ApiError(400, "invalid_request", "event.sender.sender_id.open_id is missing or malformed.");
  const m = e.message;
  const group = m.chat_type === "p2p" ? null : m.chat_id;
  const mentions = m.mentions ?? [];
  const bot = account.feishu.bot_open_id ?? null;
  if (group !== null && (bot === null || !mentions.some((x) => x.id.open_id === bot))) return null;
  const content = contentJson(m.content);
  let text: string;
  let attachments: { kind: string; ref: string }[] = [];
  if (m.message_type === "text") text = renderMentions(parseOr400(feishuTextContent, content).text, mentions, bot);
  else if (m.message_type === "post") text = postText(content, mentions, bot);
  else if (MEDIA.has(m.message_type)) {
    if (group !== null) return null;
    const p = placeholder(m.message_type, content);
    text = p.text;
    attachments = [{ kind: m.message_type, ref: p.ref }];
  } else {
    if (group !== null) return null;
    text = `[${m.message_type} message]`;
  }
  if (text === "") return null;
  const threadId = m.thread_id ?? null;
  return {
    tenantId: account.tenantId,
    channel: "feishu",
    accountId: account.id,
    peerId: sender,
    groupId: group,
    threadId,
    chatId: m.chat_id,
    messageId: envelope.header.event_id,
    // A group message or a thread message is answered as a reply to it (./feishu-api.ts).
    replyToId: group !== null || threadId !== null ? m.message_id : null,
    text,
    command: m.message_type === "text" ? commandWord(text) : null,
    sender: { id: sender, name: null },
    attachments,
    callbackUrl: null,
    receivedAt: now,
  };
}
