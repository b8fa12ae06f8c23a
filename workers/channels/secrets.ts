// Shared-secret checks for channel accounts: D1 keeps the SHA-256 of a webhook secret or hook
// token, and a presented secret is hashed and compared in constant time.
import { base64url, sha256Hex } from "../auth/encoding.ts";


// Equal-length strings (hex digests) compared without an early exit.
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export async function secretMatches(presented: string | null | undefined, storedHash: string | null): Promise<boolean> {
  if (!presented || !storedHash) return false;
  return sameDigest(await sha256Hex(presented), storedHash);
}

export function randomToken(bytes = 24): string {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

// Sends that hang must not hold a session's outbox forever.
export const SEND_TIMEOUT_MS = 10_000;

// A failed HTTP send: 429 and 5xx (and network failures) are worth retrying, other 4xx are not.
export function httpFailure(status: number, error: string, retryAfterMs: number | null) {
  return { ok: false as const, retryable: status === 429 || status >= 500 || status === 408, retryAfterMs, error };
}

export function networkFailure(err: unknown) {
  const timeout = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
  // The runtime's error does not say whether the request left before the connection failed.
  return { ok: false as const, retryable: true, retryAfterMs: null, error: timeout ? "send timed out" : `send failed: ${String(err)}`, inDoubt: true };
}
