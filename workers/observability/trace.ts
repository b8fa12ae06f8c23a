// Spans of one request (or one scheduler run), in memory until the trace is complete, then handed
// to the OTLP exporter (otlp.ts). The active span travels with the async context
// (AsyncLocalStorage, compatibility flag nodejs_als), so code deep in the router or a channel
// adapter reads it without every signature in between carrying it: withSpan() opens a child of
// whatever span is active, traceHeaders() gives the `traceparent` for an outbound call. Outside a
// traced request (a Durable Object's alarm) there is no active span and both do nothing.
import { AsyncLocalStorage } from "node:async_hooks";
import { formatTraceparent, newSpanId, newTraceId, type TraceParent } from "./traceparent.ts";

// consumer: work taken off a queue or an inbox (an agent turn run from a session's alarm).
export type SpanKind = "internal" | "server" | "client" | "consumer";
export type AttributeValue = string | number | boolean;

export interface SpanRecord {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: SpanKind;
  startMs: number;
  endMs: number;
  attributes: Record<string, AttributeValue>;
  // null: unset; otherwise an error with its message.
  error: string | null;
}

// A request's spans are few (auth, route, one per upstream attempt, the relay); a route with many
// retries and fallbacks is cut here rather than holding an unbounded list.
export const MAX_SPANS_PER_TRACE = 64;
// How long a trace waits for its open spans (a stream relay) after the handler returned, before it
// is exported as it stands.
const MAX_OPEN_WAIT_MS = 15 * 60_000;
// How long an export waits for background spans (a cache write) before it goes without them.
const MAX_BACKGROUND_WAIT_MS = 10_000;

export class Trace {
  readonly traceId: string;
  readonly sampled: boolean;
  // Spans are kept for an export only when the trace is sampled and something will export it
  // (an OTLP endpoint is configured): otherwise a request pays for its root span alone (which its
  // log line and the traceparent it answers with need), not for a tree nobody reads.
  readonly recording: boolean;
  readonly spans: SpanRecord[] = [];
  droppedSpans = 0;
  // Tokens of the model call the request made, when one reported them (the log line carries them).
  tokens: { input: number; output: number } | null = null;
  private open = 0;
  // How the request's stream relay ended, when it relayed one (the log line carries it).
  stream: "completed" | "broken" | null = null;
  private waiting: { n: number; resolve: () => void } | null = null;
  // Background spans (a cache write under waitUntil): they do not hold the request's end, its log
  // line or its latency, but the export waits for them (whenBackgroundDone).
  private background = 0;
  private backgroundDone: (() => void) | null = null;

  // A valid parent continues the caller's trace (and its sampled flag); else a new, sampled trace.
  // `exporting`: whether this isolate has an exporter for it (otlp.ts exportTarget).
  constructor(parent: TraceParent | null, exporting = true) {
    this.traceId = parent?.traceId ?? newTraceId();
    this.sampled = parent ? (parent.flags & 1) === 1 : true;
    this.recording = this.sampled && exporting;
  }

  start(name: string, kind: SpanKind, parentSpanId: string | null, attributes: Record<string, AttributeValue> = {}): Span {
    this.open++;
    return new Span(this, name, kind, parentSpanId, attributes);
  }

  startBackground(name: string, kind: SpanKind, parentSpanId: string | null, attributes: Record<string, AttributeValue> = {}): Span {
    this.background++;
    return new Span(this, name, kind, parentSpanId, attributes, true);
  }

  // Called by Span.end.
  record(span: SpanRecord, background = false): void {
    if (background) {
      this.background--;
      if (this.background === 0) this.backgroundDone?.();
    } else this.open--;
    if (!this.recording) {
      // kept for nobody
    } else if (this.spans.length < MAX_SPANS_PER_TRACE) this.spans.push(span);
    else this.droppedSpans++;
    if (this.waiting && this.open <= this.waiting.n) this.waiting.resolve();
  }

  // Resolves once at most `n` spans are open (at once when that is so already), or after the cap.
  whenOpenAtMost(n: number): Promise<void> {
    if (this.open <= n) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        resolve();
      }, MAX_OPEN_WAIT_MS);
      this.waiting = {
        n,
        resolve: () => {
          clearTimeout(timer);
          this.waiting = null;
          resolve();
        },
      };
    });
  }

  get openSpans(): number {
    return this.open;
  }

  // Resolves once no background span is open (at once when none is), or after
  // MAX_BACKGROUND_WAIT_MS. One waiter: the trace's export.
  whenBackgroundDone(): Promise<void> {
    if (this.background === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.backgroundDone?.(), MAX_BACKGROUND_WAIT_MS);
      this.backgroundDone = () => {
        clearTimeout(timer);
        this.backgroundDone = null;
        resolve();
      };
    });
  }
}

export class Span {
  readonly spanId = newSpanId();
  readonly startMs = Date.now();
  private ended = false;
  private error: string | null = null;

  readonly trace: Trace;
  readonly name: string;
  readonly kind: SpanKind;
  readonly parentSpanId: string | null;
  private readonly attributes: Record<string, AttributeValue>;

  private readonly background: boolean;

  constructor(trace: Trace, name: string, kind: SpanKind, parentSpanId: string | null, attributes: Record<string, AttributeValue>, background = false) {
    this.trace = trace;
    this.background = background;
    this.name = name;
    this.kind = kind;
    this.parentSpanId = parentSpanId;
    this.attributes = attributes;
  }

  set(key: string, value: AttributeValue | null | undefined): this {
    if (value !== null && value !== undefined) this.attributes[key] = value;
    return this;
  }

  fail(message: string): this {
    this.error = message.slice(0, 300);
    return this;
  }

  // The header an outbound call made under this span carries: the callee's parent is this span.
  traceparent(): string {
    return formatTraceparent(this.trace.traceId, this.spanId, this.trace.sampled);
  }

  // Idempotent: a relay may report its end from more than one path.
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.trace.record({
      traceId: this.trace.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: this.name,
      kind: this.kind,
      startMs: this.startMs,
      endMs: Date.now(),
      attributes: this.attributes,
      error: this.error,
    }, this.background);
  }
}

const active = new AsyncLocalStorage<Span>();

export function activeSpan(): Span | undefined {
  return active.getStore();
}

export function runInSpan<T>(span: Span, work: () => T): T {
  return active.run(span, work);
}

// Whether the active trace keeps spans (so a caller can skip building a span's attributes).
export function recording(): boolean {
  return active.getStore()?.trace.recording === true;
}

// Opens a span under the active one, runs `work` with it active, ends it (with the error when
// `work` throws). Without an active span, or when the trace keeps no spans, `work` runs with span
// null under the active one (no span, no async-context switch: outbound calls then carry the
// active span's traceparent).
export async function withSpan<T>(
  name: string,
  kind: SpanKind,
  attributes: Record<string, AttributeValue>,
  work: (span: Span | null) => Promise<T>,
): Promise<T> {
  const parent = activeSpan();
  if (!parent?.trace.recording) return work(null);
  const span = parent.trace.start(name, kind, parent.spanId, attributes);
  try {
    return await active.run(span, () => work(span));
  } catch (err) {
    span.fail(errorText(err));
    throw err;
  } finally {
    span.end();
  }
}

// A span under the active one that the caller ends itself (a stream relay ends long after the
// code that opened it returned); null outside a traced request.
export function startChild(name: string, kind: SpanKind, attributes: Record<string, AttributeValue> = {}): Span | null {
  const parent = activeSpan();
  return parent ? parent.trace.start(name, kind, parent.spanId, attributes) : null;
}

// A child of the active span for a stage that is only worth recording when the trace will be
// exported: null when there is no active span or the trace is not sampled, so an unsampled request
// pays one ALS read for it. Not made active (the caller ends it; no extra await on the path).
export function sampledChild(name: string, kind: SpanKind, attributes: Record<string, AttributeValue> = {}): Span | null {
  const parent = activeSpan();
  return parent?.trace.recording ? parent.trace.start(name, kind, parent.spanId, attributes) : null;
}

// A background child of `parent` (work under waitUntil, such as a cache write): it does not hold
// the request's end or its log line; the trace's export waits for it. Null when not sampled.
export function backgroundChild(parent: Span | null | undefined, name: string, kind: SpanKind, attributes: Record<string, AttributeValue> = {}): Span | null {
  return parent?.trace.recording ? parent.trace.startBackground(name, kind, parent.spanId, attributes) : null;
}

// Ends `span` when `work` settles (with the error's code when it rejects), without adding a step
// to the promise chain when there is no span.
export function endWhenSettled<T>(span: Span | null, work: Promise<T>): Promise<T> {
  if (!span) return work;
  return work.then(
    (value) => {
      span.end();
      return value;
    },
    (err: unknown) => {
      span.fail(errorText(err)).end();
      throw err;
    },
  );
}

// `traceparent` for an outbound call made now (the active span is the callee's parent).
export function traceHeaders(): { traceparent: string } | Record<string, never> {
  const span = activeSpan();
  return span ? { traceparent: span.traceparent() } : {};
}

export function errorText(err: unknown): string {
  if (err && typeof err === "object" && "code" in err && typeof err.code === "string") return err.code;
  return err instanceof Error ? err.name : "error";
}
