// A small OTLP/HTTP JSON span exporter (https://opentelemetry.io/docs/specs/otlp/#otlphttp), in
// place of the OpenTelemetry SDK: the SDK's OTLP exporter brings about ten packages and 27 MB
// (its transformer pulls the logs and metrics SDKs too) to send what is one JSON POST per batch of
// a handful of spans per request.
//
// Spans wait in a bounded buffer and leave in batches on a timer, one POST at a time, so a request
// never waits on the collector and a slow or absent collector costs at most the buffer: past it,
// and when an export fails, spans are dropped and counted (edgeclaw_trace_spans_dropped_total).

export type AttributeValue = string | number | boolean | string[];
export type Attributes = Record<string, AttributeValue | undefined>;

/** OTLP's SpanKind and StatusCode numbers. */
export const SpanKind = { INTERNAL: 1, SERVER: 2 } as const;
export const StatusCode = { UNSET: 0, OK: 1, ERROR: 2 } as const;

export type SpanRecord = {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  /** Unix epoch nanoseconds. */
  startNs: bigint;
  endNs: bigint;
  attributes: Attributes;
  status?: { code: number; message?: string };
};

export type ExporterOptions = {
  /** The full traces URL (…/v1/traces). */
  url: string;
  headers: Record<string, string>;
  /** Resource attributes (service.name …). */
  resource: Attributes;
  maxQueueSize: number;
  maxBatchSize: number;
  scheduleDelayMs: number;
  timeoutMs: number;
  /** Counted here as they go (Metrics renders them). */
  counts: { exported: number; dropped: number };
};

// performance.now() values to epoch nanoseconds without going through a float of ~1.8e18 (which
// would lose the sub-microsecond part): the origin in microseconds, then the offset.
const originUs = BigInt(Math.round(performance.timeOrigin * 1000));
export const toUnixNanos = (perfNowMs: number): bigint => originUs * 1000n + BigInt(Math.round(perfNowMs * 1e6));

function anyValue(v: AttributeValue): unknown {
  if (Array.isArray(v)) return { arrayValue: { values: v.map((s) => ({ stringValue: s })) } };
  if (typeof v === "string") return { stringValue: v };
  if (typeof v === "boolean") return { boolValue: v };
  // OTLP JSON writes 64-bit integers as strings.
  return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

const keyValues = (a: Attributes) =>
  Object.entries(a).flatMap(([key, v]) => (v === undefined ? [] : [{ key, value: anyValue(v) }]));

/** The ExportTraceServiceRequest body in OTLP's JSON mapping (ids as hex, times as strings). */
export function exportRequest(resource: Attributes, spans: readonly SpanRecord[]): unknown {
  return {
    resourceSpans: [{
      resource: { attributes: keyValues(resource) },
      scopeSpans: [{
        scope: { name: "edgeclaw-gpu-backend" },
        spans: spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
          name: s.name,
          kind: s.kind,
          startTimeUnixNano: String(s.startNs),
          endTimeUnixNano: String(s.endNs),
          attributes: keyValues(s.attributes),
          status: s.status ?? { code: StatusCode.UNSET },
        })),
      }],
    }],
  };
}

export class OtlpExporter {
  private readonly opts: ExporterOptions;
  private queue: SpanRecord[] = [];
  private inFlight?: Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private lastWarning = -Infinity;
  private closed = false;

  constructor(opts: ExporterOptions) {
    this.opts = opts;
    // unref: pending spans never keep the process alive (shutdown() flushes them).
    this.timer = setInterval(() => this.kick(), opts.scheduleDelayMs).unref();
  }

  /** Queues a finished span; never waits and never throws. */
  add(span: SpanRecord): void {
    if (this.closed || this.queue.length >= this.opts.maxQueueSize) {
      this.opts.counts.dropped++;
      return;
    }
    this.queue.push(span);
    // A full batch goes at once rather than at the next tick.
    if (this.queue.length >= this.opts.maxBatchSize) this.kick();
  }

  get pending(): number { return this.queue.length; }

  private kick(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatchSize);
    this.inFlight = this.send(batch).finally(() => {
      this.inFlight = undefined;
      if (this.queue.length >= this.opts.maxBatchSize) this.kick();
    });
  }

  private async send(batch: SpanRecord[]): Promise<void> {
    try {
      const res = await fetch(this.opts.url, {
        method: "POST",
        headers: { ...this.opts.headers, "Content-Type": "application/json" },
        body: JSON.stringify(exportRequest(this.opts.resource, batch)),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.opts.counts.exported += batch.length;
    } catch (e) {
      this.opts.counts.dropped += batch.length;
      // One line a minute at most: an unreachable collector must not flood the logs.
      const now = performance.now();
      if (now - this.lastWarning > 60_000) {
        this.lastWarning = now;
        console.error(`[gpu-backend] OTLP export to ${new URL(this.opts.url).origin} failed (${e instanceof Error ? e.message : String(e)}); ${batch.length} spans dropped`);
      }
    }
  }

  /** Sends what is queued (waiting at most the export timeout per batch), then stops. */
  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    const deadline = performance.now() + this.opts.timeoutMs;
    while (performance.now() < deadline) {
      if (this.inFlight) await this.inFlight;
      else if (this.queue.length) this.kick();
      else break;
    }
    this.closed = true;
    this.opts.counts.dropped += this.queue.length;
    this.queue = [];
  }
}
