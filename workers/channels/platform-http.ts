// The HTTP call every platform adapter makes with a bot credential, in one place: the account's
// own api_base_url passes the outbound-URL policy before each call (the credential goes with the
// request), a hung platform cannot hold a session's outbox (timeout), a redirect is never
// followed (it would carry the credential to a URL the policy never saw), and a network failure
// becomes a retryable SendResult. Also the bounded reading of a platform's "retry after".
import type { Env } from "../env.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import { networkFailure, SEND_TIMEOUT_MS } from "./secrets.ts";
import type { SendResult } from "./types.ts";

// A platform asking for a longer wait than this (a wild or hostile value) is held to it, so one
// answer cannot park an outbox for days.
export const MAX_RETRY_AFTER_MS = 3_600_000;

export type PlatformCall = { ok: true; res: Response } | { ok: false; failure: Extract<SendResult, { ok: false }> };

// `path` is appended to the account's base URL (or the platform's default); it may hold a
// credential (Telegram's /bot<token>/, Discord's interaction token), so it never appears in an
// error this returns.
export async function platformFetch(env: Env, apiBaseUrl: string | null, defaultBase: string, path: string, init: RequestInit): Promise<PlatformCall> {
  if (apiBaseUrl !== null) {
    const verdict = checkOutboundUrl(env, apiBaseUrl);
    if (!verdict.ok) return { ok: false, failure: { ok: false, retryable: false, retryAfterMs: null, error: `api_base_url refused: ${verdict.reason}` } };
  }
  try {
    const res = await fetch(`${apiBaseUrl ?? defaultBase}${path}`, { ...init, signal: AbortSignal.timeout(SEND_TIMEOUT_MS), redirect: "manual" });
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
