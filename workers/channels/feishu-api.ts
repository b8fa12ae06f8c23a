// Feishu / Lark's message API as the adapter (./feishu.ts) sends with it
// (https://open.feishu.cn/document/server-docs/im-v1/message/create, .../message/reply):
//   create  POST /open-apis/im/v1/messages?receive_id_type=chat_id {receive_id, msg_type:"text",
//           content: JSON {"text"}, uuid}: a DM's answer
//   reply   POST /open-apis/im/v1/messages/{message_id}/reply {msg_type, content, reply_in_thread,
//           uuid}: a group message's or a thread's answer (quoting it; in a thread, inside it).
//           A reply Feishu refuses for good (the message was recalled or deleted) goes out as a
//           new message to the chat in the same attempt
//   update  PUT /open-apis/im/v1/messages/{message_id} {msg_type:"text", content}: a streamed
//           reply's edit (.../message/update). At most 20 edits a message (230072 past them), only
//           within the edit window the tenant's admin sets, only the bot's own messages; the
//           API's limits are the send API's (50/s, 1,000/min per app). No uuid (the API takes
//           none): a resent edit sets the same text again. A refusal is a dead end for the edit (not retryable); the
//           outbox then sends a final edit's whole text as a new message
//   uuid    derived from the outbox intent (uuidOf): Feishu executes a request with a uuid it
//           has seen within the hour once and answers the first message again, so a resend
//           after a lost answer or a crash mid-send delivers nothing twice
//   auth    Authorization: Bearer <tenant_access_token> from the account's FeishuTokenCache
//           (./feishu-token.ts); "invalid/missing access token" (99991663, 99991661) drops that
//           token and the call is made once more with a fresh one
// Answers are {code, msg, data}; code 0 is success (receipt: data.message_id). Failures:
//   99991400 or HTTP 429   the app's frequency limit: retryable for the whole account, after
//                          x-ogw-ratelimit-reset seconds when Feishu says
//   230020                 this chat's send rate (5 per second per user or group): retryable, this chat only
//   5xx                    retryable (the uuid makes the retry safe)
//   anything else          a dead letter with Feishu's code and msg
import { feishuApiAnswer } from "../../schema/feishu.ts";
import type { Env } from "../env.ts";
import { toHex } from "../auth/encoding.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformErrorText, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { feishuBase, feishuToken } from "./feishu-token.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import type { AccountConfig, SendIntent, SendResult } from "./types.ts";

// Feishu bounds a text message by its request body (150 KB), not by characters. 8,000
// characters stay under it even when every character is escaped twice (content is JSON inside
// JSON) and read better than one wall of text.
export const FEISHU_MAX_TEXT = 8_000;

const TOKEN_INVALID_CODES = new Set([99991663, 99991661]);
const RATE_LIMIT_CODE = 99991400;
const CHAT_RATE_LIMIT_CODE = 230020;

const encoder = new TextEncoder();

// The intent's uuid (Feishu: at most 50 characters): 32 hex digits of SHA-256 over its key, the
// message it answers (a session erased after its TTL numbers its rows from 1 again; the answered
// event id keeps a new reply from being taken for an old one within the hour) and its text. The
// text because one outbox row may send twice with different texts: a streamed reply's first
// message, then (its final edit refused for good) the whole reply as a new message, which the
// first message's uuid would have Feishu answer with that first message instead of sending it.
export async function uuidOf(intent: Pick<SendIntent, "key" | "inReplyTo"> & { text?: string }): Promise<string> {
  const seed = `edgeclaw-feishu-uuid\n${intent.key}\n${intent.inReplyTo}\n${intent.text ?? ""}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(seed)));
  return toHex(digest.slice(0, 16));
}

type Call = { kind: "create"; chatId: string } | { kind: "reply"; messageId: string; inThread: boolean } | { kind: "update"; messageId: string };

interface CallAnswer {
  result: SendResult;
  tokenRefused?: boolean;
  // The request never got an answer from Feishu (refused base URL, network): says nothing about the message.
  unreached?: boolean;
}

async function call(env: Env, account: AccountConfig, token: string, c: Call, text: string, uuid: string): Promise<CallAnswer> {
  const content = JSON.stringify({ text });
  const path =
    c.kind === "create" ? "/open-apis/im/v1/messages?receive_id_type=chat_id" : `/open-apis/im/v1/messages/${encodeURIComponent(c.messageId)}${c.kind === "reply" ? "/reply" : ""}`;
  const body =
    c.kind === "create" ? { receive_id: c.chatId, msg_type: "text", content, uuid } : c.kind === "reply" ? { msg_type: "text", content, reply_in_thread: c.inThread, uuid } : { msg_type: "text", content };
  const fetched = await platformFetch(env, account.apiBaseUrl, feishuBase(account), path, {
    method: c.kind === "update" ? "PUT" : "POST",
    headers: { "content-type": "application/json; charset=utf-8", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!fetched.ok) return { result: fetched.failure, unreached: true };
  const res = fetched.res;
  let payload: unknown;
  try {
    payload = await readPlatformJson(res);
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return { result: answerTooLarge(err) };
    // A 200 whose body was lost may have sent the message: the retry carries the same uuid.
    if (res.ok) return { result: networkFailure(err) };
    return { result: httpFailure(res.status, `feishu ${c.kind} ${res.status}: not JSON`, null) };
  }
  const answer = feishuApiAnswer.safeParse(payload);
  const code = answer.success ? answer.data.code : null;
  if (code === 0 && res.ok) {
    // An edit's answer may leave the id out: it is the message edited.
    const id = (answer.success ? answer.data.data?.message_id : undefined) ?? (c.kind === "update" ? c.messageId : undefined);
    if (typeof id === "string" && /^[A-Za-z0-9_-]{1,128}$/.test(id)) return { result: { ok: true, receipt: id } };
    return { result: httpFailure(502, `feishu ${c.kind} ${res.status}: no message_id in the answer`, null) };
  }
  const error = `feishu ${c.kind} ${res.status}: code ${code ?? "?"} ${platformErrorText(answer.success ? (answer.data.msg ?? "") : "")}`.trim();
  if (code !== null && TOKEN_INVALID_CODES.has(code)) return { result: { ok: false, retryable: true, retryAfterMs: null, error }, tokenRefused: true };
  if (code === RATE_LIMIT_CODE || res.status === 429) {
    return { result: { ok: false, retryable: true, retryAfterMs: retryAfterSecondsMs(res.headers.get("x-ogw-ratelimit-reset")), error, accountWide: true } };
  }
  if (code === CHAT_RATE_LIMIT_CODE) return { result: { ok: false, retryable: true, retryAfterMs: 1_000, error } };
  return { result: httpFailure(res.status, error, null) };
}

// One call with the account's token; an "invalid token" answer drops it and tries once more.
// `refusedMessage`: the message API itself refused this message for good (not the token, the
// credentials or the base URL), the one case where another kind of call can still succeed.
async function withToken(env: Env, account: AccountConfig, c: Call, text: string, uuid: string): Promise<{ result: SendResult; refusedMessage: boolean }> {
  let token = await feishuToken(env, account.id);
  for (let attempt = 0; ; attempt++) {
    if (!token.ok) return { result: token, refusedMessage: false };
    const answer = await call(env, account, token.token, c, text, uuid);
    if (!answer.tokenRefused) return { result: answer.result, refusedMessage: answer.unreached !== true && !answer.result.ok && !answer.result.retryable };
    // Refused twice with two tokens: the app's credentials themselves are the problem.
    if (attempt > 0) return { result: answer.result.ok ? answer.result : { ...answer.result, retryable: false }, refusedMessage: false };
    token = await feishuToken(env, account.id, token.token);
  }
}

// A streamed reply's edit (adapter.edit): the message's text replaced with the intent's.
export async function feishuEdit(env: Env, account: AccountConfig, intent: SendIntent & { editMessageId: string }): Promise<SendResult> {
  if (!/^om_[A-Za-z0-9_-]{1,120}$/.test(intent.editMessageId)) return { ok: false, retryable: false, retryAfterMs: null, error: "feishu update: not a message id" };
  return (await withToken(env, account, { kind: "update", messageId: intent.editMessageId }, intent.text, "")).result;
}

export async function feishuSend(env: Env, account: AccountConfig, intent: SendIntent): Promise<SendResult> {
  const uuid = await uuidOf(intent);
  if (intent.replyToId !== null && /^om_[A-Za-z0-9_-]{1,120}$/.test(intent.replyToId)) {
    const { result: replied, refusedMessage } = await withToken(env, account, { kind: "reply", messageId: intent.replyToId, inThread: intent.threadId !== null }, intent.text, uuid);
    // Sent, worth retrying as it is, or refused for a reason a new message shares (the App
    // Secret, the token, the base URL): done. The reply refused for good by the message API
    // (230011: recalled or deleted): the chat still gets the answer as a new message.
    if (replied.ok || !refusedMessage) return replied;
    const { result: created } = await withToken(env, account, { kind: "create", chatId: intent.chatId }, intent.text, uuid);
    return created.ok ? created : { ...created, error: `${created.error} (after ${replied.error})` };
  }
  return (await withToken(env, account, { kind: "create", chatId: intent.chatId }, intent.text, uuid)).result;
}
