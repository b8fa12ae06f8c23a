// The WhatsApp Cloud API's send as the WhatsApp adapter (./whatsapp.ts) makes it
// (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages):
//   POST {base}/{GRAPH_VERSION}/{phone_number_id}/messages with the bearer token:
//     free-form  {messaging_product:"whatsapp", recipient_type:"individual", to, type:"text",
//                text:{body, preview_url:false}}, quoting the answered message (context.message_id)
//     template   {type:"template", template:{name, language:{code}, components?}}: the account's
//                approved template when the chat's 24-hour customer-service window is closed
//                (WhatsApp refuses free-form messages then); with text_parameter the reply
//                (templateParameter: on one line, cut to 1,024 characters) fills the body's {{1}}
//   The receipt is messages[0].id (the wamid a later `failed` status names).
// The Graph API's errors ({error:{code, error_subcode, message, type, fbtrace_id}}, mostly HTTP
// 400 whatever the code) map to SendResults by code, as Meta advises
// (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes):
//   130429  throughput reached (80 messages/s per number by default): retryable, the whole number
//           pauses THROUGHPUT_PAUSE_MS (Meta sends no Retry-After)
//   131056  pair rate limit (too many messages to one user): retryable, this chat only, with the
//           outbox's backoff
//   4, 80007, 613, 131048  app, account, call and spam rate limits: retryable with backoff
//   131047  re-engagement (outside the window): the template instead, or a dead letter
//   5xx, network, 429, 1, 2, 131000 (something went wrong), 131016 and 133004 (service or server
//           temporarily unavailable), 131057 (account in maintenance mode: a throughput upgrade)
//           retryable, whatever HTTP status carries them; 190 (token), 100 (parameter), 132018
//           (template parameter) and every other 4xx: dead letter
import { whatsappErrorAnswer, whatsappSentAnswer } from "../../schema/whatsapp.ts";
import type { WhatsappSettings } from "../../schema/channel-settings.ts";
import type { Env } from "../env.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformErrorText, platformFetch, readPlatformJson } from "./platform-http.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import type { AccountConfig, SendResult } from "./types.ts";
import { OUTSIDE_WINDOW, REENGAGEMENT_CODE } from "./whatsapp-events.ts";

export const GRAPH_API = "https://graph.facebook.com";
// One pinned Graph API version for every call (Meta keeps a version for about two years).
export const GRAPH_VERSION = "v21.0";
// A text message body holds at most 4,096 characters.
export const WHATSAPP_MAX_TEXT = 4_096;
// A template's body parameter holds at most 1,024 characters.
export const TEMPLATE_PARAMETER_MAX = 1_024;
// Free-form messages are allowed for 24 hours after the user's last message; a little margin so a
// send that reaches Meta late is not refused.
export const SERVICE_WINDOW_MS = 24 * 3_600_000 - 60_000;
// How long the whole number waits after a 130429 (throughput is counted per second).
export const THROUGHPUT_PAUSE_MS = 1_000;

const RATE_LIMIT_CODES = new Set([4, 80007, 613, 131048]);
const RETRYABLE_CODES = new Set([1, 2, 131000, 131016, 131057, 133004]);

export type OutgoingMessage = { kind: "text"; to: string; text: string; replyToId: string | null } | { kind: "template"; to: string; text: string; template: NonNullable<WhatsappSettings["template"]> };

function bodyOf(m: OutgoingMessage): Record<string, unknown> {
  const base = { messaging_product: "whatsapp", recipient_type: "individual", to: m.to };
  if (m.kind === "text") {
    return { ...base, ...(m.replyToId ? { context: { message_id: m.replyToId } } : {}), type: "text", text: { body: m.text, preview_url: false } };
  }
  const t = m.template;
  const components = t.text_parameter ? [{ type: "body", parameters: [{ type: "text", text: templateParameter(m.text) }] }] : undefined;
  return { ...base, type: "template", template: { name: t.name, language: { code: t.language }, ...(components ? { components } : {}) } };
}

// The reply as a template's text parameter. Meta refuses a parameter holding a newline, a tab or
// more than 4 consecutive spaces (132018, "Param text cannot have new-line/tab characters or more
// than 4 consecutive spaces"), and an agent's reply usually has lines: every run of whitespace
// becomes one space. Cut to 1,024 UTF-16 units without splitting a surrogate pair (half an emoji
// is no character: it has no UTF-8 form, and Meta's JSON decoder would not take it).
export function templateParameter(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= TEMPLATE_PARAMETER_MAX) return flat;
  const cut = flat.slice(0, TEMPLATE_PARAMETER_MAX);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

export interface WhatsappCall {
  result: SendResult;
  // The free-form message was refused as outside the 24-hour window (131047).
  outsideWindow?: boolean;
}

// One send and what its answer means.
export async function whatsappCall(env: Env, account: AccountConfig, phoneNumberId: string, token: string, m: OutgoingMessage): Promise<WhatsappCall> {
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
  const path = `/${GRAPH_VERSION}/${phoneNumberId}/messages`;
  const fetched = await platformFetch(env, account.apiBaseUrl, GRAPH_API, path, { method: "POST", headers, body: JSON.stringify(bodyOf(m)) });
  if (!fetched.ok) return { result: fetched.failure };
  const res = fetched.res;
  let payload: unknown = null;
  try {
    payload = await readPlatformJson(res);
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return { result: answerTooLarge(err) };
    // A 200 whose body was lost may have sent the message: WhatsApp has no idempotency key, so
    // the retry may deliver it twice (the one at-least-once case; docs/platforms say so).
    if (res.ok) return { result: networkFailure(err) };
  }
  if (res.ok) {
    const sent = whatsappSentAnswer.safeParse(payload);
    const id = sent.success ? sent.data.messages[0]?.id : undefined;
    if (typeof id === "string" && id.length > 0) return { result: { ok: true, receipt: id } };
    return { result: httpFailure(502, `whatsapp send ${res.status}: no message id in the answer`, null) };
  }
  const parsed = whatsappErrorAnswer.safeParse(payload);
  const e = parsed.success ? parsed.data.error : null;
  const code = e?.code ?? null;
  const words = [e?.message, e?.error_data?.details].filter((x): x is string => typeof x === "string" && x.length > 0).join(" - ");
  const error = platformErrorText(`whatsapp send ${res.status}${code !== null ? ` code ${code}${e?.error_subcode ? `/${e.error_subcode}` : ""}` : ""}: ${words || "no message"}`);
  if (code === 130429) return { result: { ok: false, retryable: true, retryAfterMs: THROUGHPUT_PAUSE_MS, error, accountWide: true } };
  if (code === 131056 || (code !== null && RATE_LIMIT_CODES.has(code))) return { result: { ok: false, retryable: true, retryAfterMs: null, error } };
  if (code === REENGAGEMENT_CODE) return { result: { ok: false, retryable: false, retryAfterMs: null, error: `${error} (${OUTSIDE_WINDOW})` }, outsideWindow: true };
  if (code !== null && RETRYABLE_CODES.has(code)) return { result: { ok: false, retryable: true, retryAfterMs: null, error } };
  return { result: httpFailure(res.status, error, null) };
}
