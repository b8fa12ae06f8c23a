// The HTTP call every platform adapter makes with a bot credential, in one place: the account's
// own api_base_url passes the outbound-URL policy before each call (the credential goes with the
// request), a hung platform cannot hold a session's outbox (timeout), a redirect is never
// followed (it would carry the credential to a URL the policy never saw), and a network failure
// becomes a retryable SendResult. Also the bounded reading of a platform's answer (its body and
// its "retry after").
import type { Env } from "../env.ts";
import { joinChunks, readUpTo } from "../http/bounded-read.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import { activeSpan, withSpan } from "../observability/trace.ts";
import { networkFailure, SEND_TIMEOUT_MS } from "./secrets.ts";
import type { SendResult } from "./types.ts";

// A platform asking for a longer wait than this (a wild or hostile value) is held to it, so one
// answer cannot park an outbox for days.
export const MAX_RETRY_AFTER_MS = 3_600_000;

// A platform's answer to a send is small (a Discord message object is a few KiB, Telegram's and
// Slack's less): a body past this is not read further. The base URL may be a tenant admin's own
// server (api_base_url), and a multi-GB answer read whole would take the isolate every tenant
// shares down with it.
export const MAX_PLATFORM_ANSWER_BYTES = 64 * 1024;
// What of a platform's own error text is kept (it ends up in outbox.last_error and the admin API).
export const MAX_PLATFORM_ERROR_CHARS = 500;

// The answer's body was longer than MAX_PLATFORM_ANSWER_BYTES: it was cancelled unread past that.
export class PlatformAnswerTooLarge extends Error {
  constructor(max: number) {
    super(`the platform's answer exceeds ${max} bytes`);
    this.name = "PlatformAnswerTooLarge";
  }
}

export type PlatformCall = { ok: true; res: Response } | { ok: false; failure: Extract<SendResult, { ok: false }> };

// `path` is appended to the account's base URL (or the platform's default); it may hold a
// credential (Telegram's /bot<token>/, Discord's interaction token), so it never appears in an
// error this returns.
export async function platformFetch(env: Env, apiBaseUrl: string | null, defaultBase: string, path: string, init: RequestInit): Promise<PlatformCall> {
  if (apiBaseUrl !== null) {
    const verdict = checkOutboundUrl(env, apiBaseUrl);
    if (!verdict.ok) return { ok: false, failure: { ok: false, retryable: false, retryAfterMs: null, error: `api_base_url refused: ${verdict.reason}` } };
  }
  const base = apiBaseUrl ?? defaultBase;
  // Inside a traced request (a send made while answering one) the call is a span of that request
  // and carries its traceparent; from a Durable Object's outbox there is no trace to join.
  if (!activeSpan()) return send(`${base}${path}`, init);
  let host = "";
  try {
    host = new URL(base).host;
  } catch {
    // fetch below fails the same way and says so
  }
  return withSpan("channel.platform_call", "client", { "server.address": host, "http.request.method": init.method ?? "GET" }, async (span) => {
    const headers = new Headers(init.headers);
    if (span) headers.set("traceparent", span.traceparent());
    const call = await send(`${base}${path}`, { ...init, headers });
    if (call.ok) span?.set("http.response.status_code", call.res.status);
    else span?.fail("platform_unreachable");
    return call;
  });
}

async function send(url: string, init: RequestInit): Promise<PlatformCall> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(SEND_TIMEOUT_MS), redirect: "manual" });
    return { ok: true, res };
  } catch (err) {
    return { ok: false, failure: networkFailure(err) };
  }
}

// A "retry after" in seconds (a header's text or a JSON number, integer or fractional: Discord
// sends 0.35) as milliseconds, rounded up and bounded; null when absent or not a number.
export function retryAfterSecondsMs(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  let seconds: number;
  if (typeof value === "number") seconds = value;
  else {
    const text = value.trim();
    if (!/^\d{1,7}(?:\.\d{1,6})?$/.test(text)) return null;
    seconds = Number(text);
  }
  if (!Number.isFinite(seconds) || seconds < 0) return null;
  return Math.min(Math.ceil(seconds * 1000), MAX_RETRY_AFTER_MS);
}

// The answer's body as text, at most `max` bytes whatever its content-length says (a header can
// lie; the stream is cut at the limit). Throws PlatformAnswerTooLarge past it, or the read error.
export async function readPlatformText(res: Response, max = MAX_PLATFORM_ANSWER_BYTES): Promise<string> {
  if (!res.body) return "";
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await res.body.cancel().catch(() => {});
    throw new PlatformAnswerTooLarge(max);
  }
  const read = await readUpTo(res.body, max);
  if (read.over) throw new PlatformAnswerTooLarge(max);
  return new TextDecoder().decode(joinChunks(read));
}

// The answer's body parsed as JSON, bounded like readPlatformText; throws on a read or JSON error.
export async function readPlatformJson(res: Response): Promise<unknown> {
  return JSON.parse(await readPlatformText(res));
}

// An answer too large to read: the send may or may not have happened (the platform, or what
// stands in for it, answered something), so it is retried like a lost answer, with its own error.
export function answerTooLarge(err: PlatformAnswerTooLarge): Extract<SendResult, { ok: false }> {
  return { ok: false, retryable: true, retryAfterMs: null, error: `send failed: ${err.message}`, inDoubt: true };
}

// A platform's own error text, bounded before it is stored.
export function platformErrorText(text: string): string {
  return text.length > MAX_PLATFORM_ERROR_CHARS ? `${text.slice(0, MAX_PLATFORM_ERROR_CHARS)}...` : text;
}
