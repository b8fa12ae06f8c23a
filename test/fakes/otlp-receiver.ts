// A local OTLP/HTTP trace receiver (https://opentelemetry.io/docs/specs/otlp/#otlphttp), JSON
// encoding only, served by the fake upstream process: POST /v1/traces takes an
// ExportTraceServiceRequest (content-type application/json; anything else answers 415, a body that
// is not one answers 400, as a collector does) and answers 200 {}; the spans are kept by trace id.
// GET /control/traces/<traceId> answers {exports, spans} (spans flattened, each with its
// resource's service.name). Bounded: the oldest traces go first past MAX_TRACES.
import type { IncomingMessage, ServerResponse } from "node:http";
import { header, json, readBody } from "./upstream-http.ts";

export interface ReceivedSpan {
  service: string | null;
  scope: string | null;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

const MAX_TRACES = 5_000;

type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };

function value(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  throw new Error("unsupported attribute value");
}

function attributes(list: KeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) out[kv.key] = value(kv.value);
  return out;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const NANOS = /^\d{1,20}$/;

export function otlpReceiver() {
  const traces = new Map<string, { exports: number; spans: ReceivedSpan[] }>();

  // Parses and checks one export; throws on anything a collector would reject.
  function accept(body: unknown): ReceivedSpan[] {
    const out: ReceivedSpan[] = [];
    const rs = (body as { resourceSpans?: unknown }).resourceSpans;
    if (!Array.isArray(rs)) throw new Error("resourceSpans missing");
    for (const r of rs as { resource?: { attributes?: KeyValue[] }; scopeSpans?: { scope?: { name?: string }; spans?: Record<string, unknown>[] }[] }[]) {
      const service = attributes(r.resource?.attributes)["service.name"];
      for (const ss of r.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const span = s as {
            traceId: string;
            spanId: string;
            parentSpanId?: string;
            name: string;
            kind: number;
            startTimeUnixNano: string;
            endTimeUnixNano: string;
            attributes?: KeyValue[];
            status?: { code?: number; message?: string };
          };
          if (!HEX32.test(span.traceId) || !HEX16.test(span.spanId)) throw new Error("bad ids");
          if (span.parentSpanId !== undefined && span.parentSpanId !== "" && !HEX16.test(span.parentSpanId)) throw new Error("bad parent id");
          if (typeof span.name !== "string" || !Number.isInteger(span.kind)) throw new Error("bad span");
          if (!NANOS.test(span.startTimeUnixNano) || !NANOS.test(span.endTimeUnixNano)) throw new Error("bad times");
          if (BigInt(span.endTimeUnixNano) < BigInt(span.startTimeUnixNano)) throw new Error("span ends before it starts");
          out.push({
            service: typeof service === "string" ? service : null,
            scope: ss.scope?.name ?? null,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || null,
            name: span.name,
            kind: span.kind,
            startTimeUnixNano: span.startTimeUnixNano,
            endTimeUnixNano: span.endTimeUnixNano,
            attributes: attributes(span.attributes),
            status: span.status ?? {},
          });
        }
      }
    }
    return out;
  }

  // Answers the request when it is the receiver's; false when it is not.
  return async function handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    if (req.method === "POST" && pathname === "/v1/traces") {
      if (!(header(req, "content-type") ?? "").startsWith("application/json")) {
        json(res, 415, { code: 3, message: "only application/json is accepted here" });
        return true;
      }
      let spans: ReceivedSpan[];
      try {
        spans = accept(JSON.parse(await readBody(req)));
      } catch (err) {
        json(res, 400, { code: 3, message: String(err) });
        return true;
      }
      const seen = new Set<string>();
      for (const span of spans) {
        let entry = traces.get(span.traceId);
        if (!entry) {
          if (traces.size >= MAX_TRACES) traces.delete(traces.keys().next().value as string);
          entry = { exports: 0, spans: [] };
          traces.set(span.traceId, entry);
        }
        if (!seen.has(span.traceId)) {
          seen.add(span.traceId);
          entry.exports++;
        }
        entry.spans.push(span);
      }
      json(res, 200, {});
      return true;
    }
    if (req.method === "GET" && pathname.startsWith("/control/traces/")) {
      const id = decodeURIComponent(pathname.slice("/control/traces/".length));
      json(res, 200, traces.get(id) ?? { exports: 0, spans: [] });
      return true;
    }
    return false;
  };
}
