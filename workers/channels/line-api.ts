// LINE's Messaging API as the LINE adapter (./line.ts) sends with it
// (https://developers.line.biz/en/reference/messaging-api/#send-reply-message, #send-push-message):
//   reply  POST /v2/bot/message/reply {replyToken, messages}: free of the monthly message quota,
//          but the token is single use and valid for about a minute after LINE sent the event.
//          Used for a reply's first part while the token is under REPLY_TOKEN_USABLE_MS old
//   push   POST /v2/bot/message/push {to, messages} with X-Line-Retry-Key: every other send. The
//          key is a UUID derived from the outbox intent (retryKeyOf), so every attempt of one
//          intent carries the same key and LINE executes it once: a resend after a lost answer
//          or a crash mid-send answers 409 "The retry key is already accepted", which is the
//          success it stands for (receipt: the x-line-accepted-request-id header)
// Answers map to SendResults:
//   200      {sentMessages:[{id}]}: the message id is the receipt (else the x-line-request-id)
//   400 "Invalid reply token" on reply: the token expired or was used: the same intent goes by push
//   409      on push with a retry key: already sent, a success
//   429      retryable, for the whole channel (LINE counts per channel); LINE sends no Retry-After,
//            so the outbox's backoff paces the retries. "You have reached your monthly limit."
//            is a 429 too, but a retry within minutes cannot get past it: a dead letter
//   5xx      retryable (with the retry key, LINE never executes a push twice)
//   401/403  the channel access token is bad or lacks rights: a dead letter, not a storm
//   other 4xx  a dead letter with LINE's message
import { lineErrorAnswer, lineSentAnswer } from "../../schema/line.ts";
import type { Env } from "../env.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import type { AccountConfig, SendIntent, SendResult } from "./types.ts";

export const LINE_API = "https://api.line.me";
// A text message object holds at most 5,000 characters.
export const LINE_MAX_TEXT = 5_000;
// LINE gives a reply token about a minute; past 50 s the reply could arrive late at LINE and be
// refused, so the send goes by push instead (which has its retry key; the reply has none).
export const REPLY_TOKEN_USABLE_MS = 50_000;

const encoder = new TextEncoder();

// The intent's X-Line-Retry-Key: SHA-256 of its key and the message it answers, the first 16
// bytes as a UUID with version 8 (RFC 9562's custom, name-based-with-SHA-256 form) and the RFC
// variant. Deterministic, so every attempt of one intent (after a crash too) sends the same key.
// The answered message id is in it because intent keys are "<session key>#<row id>" and a
// session erased after its TTL numbers its rows from 1 again: without it, a new reply within
// LINE's 24 hours of key memory could be taken for an old one and swallowed as a 409.
export async function retryKeyOf(intent: Pick<SendIntent, "key" | "inReplyTo">): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`edgeclaw-line-retry\n${intent.key}\n${intent.inReplyTo}`)));
  const b = digest.slice(0, 16);
  b[6] = ((b[6] as number) & 0x0f) | 0x80;
  b[8] = ((b[8] as number) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface LineCall {
  result: SendResult;
  // The reply token was refused (expired or used): the caller pushes instead.
  replyTokenRefused?: boolean;
}

function textMessages(text: string) {
  return [{ type: "text", text }];
}

// One reply or push call and what its answer means.
export async function lineCall(
  env: Env,
  account: AccountConfig,
  accessToken: string,
  call: { kind: "reply"; replyToken: string; text: string } | { kind: "push"; to: string; text: string; retryKey: string },
): Promise<LineCall> {
  const headers: Record<string, string> = { "content-type": "application/json", authorization: `Bearer ${accessToken}` };
  if (call.kind === "push") headers["x-line-retry-key"] = call.retryKey;
  const body = call.kind === "reply" ? { replyToken: call.replyToken, messages: textMessages(call.text) } : { to: call.to, messages: textMessages(call.text) };
  const fetched = await platformFetch(env, account.apiBaseUrl, LINE_API, `/v2/bot/message/${call.kind}`, { method: "POST", headers, body: JSON.stringify(body) });
  if (!fetched.ok) return { result: fetched.failure };
  const res = fetched.res;
  const requestId = boundedId(res.headers.get("x-line-request-id"));
  let payload: unknown = null;
  try {
    payload = await readPlatformJson(res);
  } catch (err) {
    // Too large and not a success: retried (a hostile or broken base URL), never read whole.
    if (err instanceof PlatformAnswerTooLarge && !res.ok) return { result: answerTooLarge(err) };
    // A 200 whose body was lost may still have sent the message: a push retried with its key is
    // safe; a reply retried finds its token used and pushes (see REPLY_TOKEN_USABLE_MS).
    if (res.ok) {
      if (requestId !== null) return { result: { ok: true, receipt: requestId } };
      return { result: networkFailure(err) };
    }
  }
  if (res.ok) {
    const sent = lineSentAnswer.safeParse(payload);
    const id = sent.success ? boundedId(sent.data.sentMessages?.[0]?.id) : null;
    const receipt = id ?? requestId;
    if (receipt !== null) return { result: { ok: true, receipt } };
    return { result: httpFailure(502, `line ${call.kind} ${res.status}: no message or request id in the answer`, null) };
  }
  const parsed = lineErrorAnswer.safeParse(payload);
  const message = parsed.success ? (parsed.data.message ?? "") : "";
  const detail = parsed.success ? (parsed.data.details ?? []).map((d) => `${d.property ?? ""}: ${d.message ?? ""}`).join("; ") : "";
  const error = `line ${call.kind} ${res.status}: ${message.slice(0, 200) || "no message"}${detail ? ` (${detail.slice(0, 200)})` : ""}`;
  if (call.kind === "push" && res.status === 409) {
    // The retry key was accepted before: the message went out then.
    const accepted = boundedId(res.headers.get("x-line-accepted-request-id"));
    if (accepted !== null || /retry key is already accepted/i.test(message)) return { result: { ok: true, receipt: accepted ?? requestId ?? call.retryKey } };
    return { result: httpFailure(409, error, null) };
  }
  if (call.kind === "reply" && res.status === 400 && /invalid reply token/i.test(message)) return { result: httpFailure(400, error, null), replyTokenRefused: true };
  if (res.status === 429) {
    // The monthly quota is spent: no retry this side of the next month gets through.
    if (/monthly limit/i.test(message)) return { result: { ok: false, retryable: false, retryAfterMs: null, error } };
    return { result: { ...httpFailure(429, error, retryAfterSecondsMs(res.headers.get("retry-after"))), accountWide: true } };
  }
  return { result: httpFailure(res.status, error, null) };
}

// An id from a header or an answer, kept only when it is a plain token of sane length.
function boundedId(value: string | null | undefined): string | null {
  return typeof value === "string" && /^[A-Za-z0-9_.-]{1,128}$/.test(value) ? value : null;
}
