// The W3C traceparent reader is strict: only version 00 in its exact shape, lowercase hex,
// neither id all zeros. Anything else is treated as absent (the gateway starts its own trace).
import { describe, expect, it } from "vitest";
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from "../../workers/observability/traceparent.ts";
import { MALFORMED, PARENT, TRACE } from "./helpers.ts";

describe("parseTraceparent", () => {
  it("reads the spec's example and its sampled flag", () => {
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 1 });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-00`)).toEqual({ traceId: TRACE, parentId: PARENT, flags: 0 });
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-03`)?.flags).toBe(3);
  });

  for (const [name, value] of Object.entries(MALFORMED)) {
    it(`refuses ${name}`, () => {
      expect(parseTraceparent(value)).toBeNull();
    });
  }

  it("refuses surrounding whitespace (HTTP strips it from a header before the Worker sees it)", () => {
    expect(parseTraceparent(` 00-${TRACE}-${PARENT}-01`)).toBeNull();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01\t`)).toBeNull();
  });

  it("refuses an absent header and a very long one without reading it", () => {
    expect(parseTraceparent(null)).toBeNull();
    expect(parseTraceparent(undefined)).toBeNull();
    expect(parseTraceparent(`00-${TRACE}-${PARENT}-01`.padEnd(100_000, "0"))).toBeNull();
  });

  it("makes ids of the right shape that read back", () => {
    const traceId = newTraceId();
    const spanId = newSpanId();
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(newTraceId()).not.toBe(traceId);
    expect(parseTraceparent(formatTraceparent(traceId, spanId, true))).toEqual({ traceId, parentId: spanId, flags: 1 });
    expect(parseTraceparent(formatTraceparent(traceId, spanId, false))?.flags).toBe(0);
  });
});
