// W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header a caller (the
// gateway) sends, and the ids of new spans. Parsed by position, without a regular expression.
import { randomBytes } from "node:crypto";

export type SpanContext = { traceId: string; spanId: string; sampled: boolean };

const HEX = "0123456789abcdef";
/** Lowercase hex only: the spec forbids uppercase, and a receiver must treat it as invalid. */
const isHex = (s: string) => {
  for (let i = 0; i < s.length; i++) if (!HEX.includes(s[i]!)) return false;
  return true;
};
const allZero = (s: string) => {
  for (let i = 0; i < s.length; i++) if (s[i] !== "0") return false;
  return true;
};

/**
 * The caller's span, or undefined when the header is absent or invalid (then a new trace starts,
 * as the spec asks). Version 00 is exactly 55 characters; a later version may append fields after
 * a dash, which are ignored; version ff is invalid. Two headers joined by a comma fail the length.
 */
export function parseTraceparent(header: string | undefined): SpanContext | undefined {
  if (header === undefined) return undefined;
  const h = header.trim();
  if (h.length < 55 || h[2] !== "-" || h[35] !== "-" || h[52] !== "-") return undefined;
  const version = h.slice(0, 2);
  if (!isHex(version) || version === "ff") return undefined;
  if (version === "00" ? h.length !== 55 : h.length > 55 && h[55] !== "-") return undefined;
  const traceId = h.slice(3, 35);
  const spanId = h.slice(36, 52);
  const flags = h.slice(53, 55);
  if (!isHex(traceId) || !isHex(spanId) || !isHex(flags) || allZero(traceId) || allZero(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export const newTraceId = () => randomBytes(16).toString("hex");
export const newSpanId = () => randomBytes(8).toString("hex");
