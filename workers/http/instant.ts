// A point in time in a query parameter (GET /admin/usage from/to, GET /admin/audit since/until):
// epoch milliseconds, an ISO 8601 date (midnight UTC), or an ISO 8601 date-time with its zone
// (Z or ±hh:mm). A date-time without a zone is refused: Date.parse would read it in the
// runtime's local zone, and the caller's intent (UTC? their own zone?) cannot be known.
// Linear patterns only (no nested quantifiers), bounded length.
import { z } from "zod";

const EPOCH_MS = /^\d{1,15}$/;
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

export const INSTANT_HINT = "epoch milliseconds or an ISO 8601 date-time with a zone, e.g. 2026-11-01T00:00:00Z";

// Epoch ms, or null when `s` is not an instant (or not a valid date, e.g. month 13).
export function parseInstant(s: string): number | null {
  const ms = EPOCH_MS.test(s) ? Number(s) : ISO.test(s) ? Date.parse(s) : Number.NaN;
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : null;
}

export const instant = z
  .string()
  .max(40)
  .transform((s, ctx) => {
    const ms = parseInstant(s);
    if (ms === null) {
      ctx.addIssue({ code: "custom", message: INSTANT_HINT });
      return z.NEVER;
    }
    return ms;
  });
