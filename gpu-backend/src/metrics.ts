// Prometheus text exposition. The server's own series are written by hand: a handful of counters,
// gauges and histograms, gauges read at scrape time from the registry so they cannot drift. The
// standard process_* and nodejs_* series (CPU, memory, heap, event-loop lag, GC, handles) come from
// prom-client's default collectors, in a Registry of their own appended after ours.
import { collectDefaultMetrics, Registry } from "prom-client";
import type { ModelRegistry } from "./engine/registry.ts";

let processRegistry: Registry | undefined;
/**
 * The default collectors, started once per process: they describe the process, not one server, and
 * each start would add another event-loop monitor and GC observer that nothing can stop.
 */
export function processMetrics(): Promise<string> {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry.metrics();
}

const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const TPOT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
// vLLM's request-latency buckets.
const E2E_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

class Histogram {
  private readonly buckets: number[];
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(buckets: number[]) {
    this.buckets = buckets;
    this.counts = buckets.map(() => 0);
  }
  observe(v: number) {
    this.sum += v;
    this.count++;
    this.buckets.forEach((b, i) => { if (v <= b) this.counts[i]!++; });
  }
  render(name: string, labels: string): string[] {
    const sep = labels ? "," : "";
    return [
      ...this.buckets.map((b, i) => `${name}_bucket{${labels}${sep}le="${b}"} ${this.counts[i]}`),
      `${name}_bucket{${labels}${sep}le="+Inf"} ${this.count}`,
      `${name}_sum{${labels}} ${this.sum}`,
      `${name}_count{${labels}} ${this.count}`,
    ];
  }
}

type PerModel = { prompt: number; generated: number; ttft: Histogram; tpot: Histogram; e2e: Histogram; outcomes: Map<string, number> };

const label = (v: string) => v.replace(/["\\\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));

export class Metrics {
  private readonly perModel = new Map<string, PerModel>();
  private rejected = 0;
  /** Spans of the OTLP exporter (src/tracing/), sent and dropped; both stay 0 without tracing. */
  readonly traceSpans = { exported: 0, dropped: 0 };

  private model(id: string): PerModel {
    let m = this.perModel.get(id);
    if (!m) {
      m = { prompt: 0, generated: 0, ttft: new Histogram(TTFT_BUCKETS), tpot: new Histogram(TPOT_BUCKETS), e2e: new Histogram(E2E_BUCKETS), outcomes: new Map() };
      this.perModel.set(id, m);
    }
    return m;
  }

  /** One finished (or failed) generation. Times are performance.now() values. */
  recordGeneration(modelId: string, r: { outcome: string; promptTokens: number; completionTokens: number; arrivedAt: number; firstTokenAt?: number; endedAt: number }) {
    const m = this.model(modelId);
    m.outcomes.set(r.outcome, (m.outcomes.get(r.outcome) ?? 0) + 1);
    m.prompt += r.promptTokens;
    m.generated += r.completionTokens;
    // Requests that failed or were abandoned have no meaningful latency (vLLM counts finished ones).
    if (r.outcome !== "error" && r.outcome !== "cancelled") m.e2e.observe((r.endedAt - r.arrivedAt) / 1000);
    if (r.firstTokenAt !== undefined) {
      m.ttft.observe((r.firstTokenAt - r.arrivedAt) / 1000);
      if (r.completionTokens > 1) m.tpot.observe((r.endedAt - r.firstTokenAt) / 1000 / (r.completionTokens - 1));
    }
  }

  recordQueueFull() { this.rejected++; }

  /** Everything /metrics serves: the server's own series, then the process's. */
  async renderAll(registry: ModelRegistry): Promise<string> {
    return this.render(registry) + (await processMetrics());
  }

  render(registry: ModelRegistry): string {
    const out: string[] = [];
    const models = registry.all();
    const gauge = (name: string, help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...rows.map(([l, v]) => `${name}${l ? `{${l}}` : ""} ${v}`));
    };
    const byModel = (f: (m: (typeof models)[number]) => number): [string, number][] => {
      const sums = new Map<string, number>();
      for (const m of models) sums.set(m.id, (sums.get(m.id) ?? 0) + f(m));
      return [...sums].map(([id, v]) => [`model="${label(id)}"`, v]);
    };
    const kvUsage = () => {
      const cells = models.reduce((n, m) => n + m.contextSize * m.pool.size, 0);
      return cells ? models.reduce((n, m) => n + m.kvUsage * m.contextSize * m.pool.size, 0) / cells : 0;
    };

    gauge("edgeclaw_requests_running", "Requests generating on a slot.", byModel((m) => m.pool.running));
    gauge("edgeclaw_requests_waiting", "Requests queued for a slot.", byModel((m) => m.pool.waiting));
    gauge("edgeclaw_slots_total", "Parallel sequences per model.", byModel((m) => m.pool.size));
    gauge("edgeclaw_slot_usage_ratio", "Busy slots over all slots.", byModel((m) => m.pool.running / m.pool.size));
    gauge("edgeclaw_embedding_requests_running", "Embedding requests on the model's embedding context.", byModel((m) => m.embeddingLoad.running));
    gauge("edgeclaw_embedding_requests_waiting", "Embedding requests queued for the model's embedding context.", byModel((m) => m.embeddingLoad.waiting));
    gauge("edgeclaw_kv_cache_usage_ratio", "KV cells held by running requests over all KV cells.", byModel((m) => m.kvUsage));
    // vLLM's names, so a router that already reads vLLM replicas reads this server unchanged;
    // like vLLM's, they count embedding (pooling) requests too.
    gauge("vllm:num_requests_running", "Number of requests currently running.", [["", registry.running]]);
    gauge("vllm:num_requests_waiting", "Number of requests waiting.", [["", registry.queueDepth]]);
    gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", [["", kvUsage()]]);

    const counter = (name: string, help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, ...rows.map(([l, v]) => `${name}${l ? `{${l}}` : ""} ${v}`));
    };
    const entries = [...this.perModel];
    counter("edgeclaw_prompt_tokens_total", "Prompt tokens processed.", entries.map(([id, m]) => [`model="${label(id)}"`, m.prompt]));
    counter("edgeclaw_generation_tokens_total", "Tokens generated.", entries.map(([id, m]) => [`model="${label(id)}"`, m.generated]));
    counter(
      "edgeclaw_requests_total",
      "Generations by outcome (stop, length, cancelled, error).",
      entries.flatMap(([id, m]) => [...m.outcomes].map(([o, n]): [string, number] => [`model="${label(id)}",outcome="${label(o)}"`, n])),
    );
    counter("edgeclaw_requests_rejected_total", "Requests refused because the queue was full.", [["", this.rejected]]);
    counter("edgeclaw_trace_spans_exported_total", "Spans the OTLP collector accepted.", [["", this.traceSpans.exported]]);
    counter("edgeclaw_trace_spans_dropped_total", "Spans dropped: buffer full, export failed or timed out, or left at shutdown.", [["", this.traceSpans.dropped]]);

    const histogram = (name: string, help: string, pick: (m: PerModel) => Histogram, labelName = "model") => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [id, m] of entries) out.push(...pick(m).render(name, `${labelName}="${label(id)}"`));
    };
    histogram("edgeclaw_time_to_first_token_seconds", "Arrival to first generated token, queueing included.", (m) => m.ttft);
    histogram("edgeclaw_time_per_output_token_seconds", "Time per generated token after the first.", (m) => m.tpot);
    // The same observations under vLLM's names and its model_name label, for dashboards built on vLLM.
    histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", (m) => m.ttft, "model_name");
    histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", (m) => m.tpot, "model_name");
    histogram("vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", (m) => m.e2e, "model_name");
    counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", entries.map(([id, m]) => [`model_name="${label(id)}"`, m.prompt]));
    counter("vllm:generation_tokens_total", "Number of generation tokens processed.", entries.map(([id, m]) => [`model_name="${label(id)}"`, m.generated]));
    return out.join("\n") + "\n";
  }
}
