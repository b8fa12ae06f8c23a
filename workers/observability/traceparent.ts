// W3C Trace Context (https://www.w3.org/TR/trace-context/) `traceparent`, read strictly: only
// version 00, exactly "00-<32 lowercase hex>-<16 lowercase hex>-<2 lowercase hex>", with neither id
// all zeros. Anything else (another version, upper case, extra fields, a zero id, a header sent
// twice and joined with a comma) is dropped and the gateway starts a trace of its own: a value the
// client made up is never echoed back or passed upstream.
import { toHex } from "../auth/encoding.ts";

export interface TraceParent {
  traceId: string;
  // The caller's span: the parent of the gateway's span.
  parentId: string;
  // The trace flags byte; bit 0 is "sampled".
  flags: number;
}

// Fixed length and a fixed alphabet: linear, and no dynamic RegExp.
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export function parseTraceparent(header: string | null | undefined): TraceParent | null {
  // 55 characters exactly; checked first so a long header costs nothing.
  if (!header || header.length !== 55) return null;
  const m = TRACEPARENT.exec(header);
  if (!m) return null;
  const [, traceId, parentId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || parentId === ZERO_SPAN) return null;
  return { traceId, parentId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

function randomHex(bytes: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(bytes)));
}

// Random ids, never all zeros (the one value the spec calls invalid).
export function newTraceId(): string {
  for (;;) {
    const id = randomHex(16);
    if (id !== ZERO_TRACE) return id;
  }
}

export function newSpanId(): string {
  for (;;) {
    const id = randomHex(8);
    if (id !== ZERO_SPAN) return id;
  }
}
