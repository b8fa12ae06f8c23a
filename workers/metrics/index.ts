// GET /metrics: the deployment's series in Prometheus text format, for an operator's scraper
// (bearer METRICS_TOKEN, deployment-wide: every tenant). Never from isolate memory: isolates are
// many and short-lived, and a counter that lives in one would reset and disagree between scrapes.
//   - usage series and rejections: D1's day rollups (workers/usage/rollups.ts) summed over all
//     days, monotonic totals as counters must be;
//   - breaker state: D1's breaker_states, mirrored by each breaker's Durable Object (breakers.ts);
//   - channel depth and dead letters: D1's sessions and dead_letters (channels.ts);
//   - scheduler runs and lag: each scheduler shard's own counters, over RPC (scheduler.ts).
// A source other than the usage rollups that fails is left out of the scrape and counted in
// edgeclaw_metrics_scrape_errors{source}. In a regional deployment each region's Worker answers
// for its own D1 and objects (the global entry has no storage and refuses).
import { Hono } from "hono";
import { LATENCY_BUCKETS_MS } from "../../schema/usage.ts";
import { sha256Hex } from "../auth/encoding.ts";
import { sameDigest } from "../channels/secrets.ts";
import type { AppEnv, Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { bearerToken } from "../http/api-key-auth.ts";
import { purgeAgedBreakers, readBreakers, renderBreakers } from "./breakers.ts";
import { readChannels, renderChannels } from "./channels.ts";
import { CONTENT_TYPE, Exposition } from "./exposition.ts";
import { schedulerSettings } from "../scheduler/timing.ts";
import { renderScheduler, scrapeShards, type ShardScrape } from "./scheduler.ts";

// At most this many (tenant, model, provider) series, and as many (…, error class) series, are
// read and exposed per scrape, the busiest first: it bounds the label cardinality, the D1 rows
// read back and the answer (about 35 lines of ~150 bytes per series, so under 2 MB). When more
// exist, edgeclaw_metrics_truncated says so.
export const MAX_SERIES = 300;

const SECONDS = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

interface SeriesRow {
  tenant_id: string;
  model: string;
  provider: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cost_micro_usd: number;
  cache_hits: number;
  latency_sum_ms: number;
  ttft_count: number;
  ttft_sum_ms: number;
  [bucket: string]: string | number;
}

interface ErrorRow {
  tenant_id: string;
  model: string;
  provider: string;
  error_class: string;
  errors: number;
}

const bucketSums = (prefix: string) => LATENCY_BUCKETS_MS.map((ms) => `SUM(${prefix}_le_${ms}) AS ${prefix}_le_${ms}`).join(", ");

const SERIES_SQL =
  "SELECT tenant_id, model, provider, SUM(requests) AS requests, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, " +
  "SUM(cost_micro_usd) AS cost_micro_usd, SUM(cache_hits) AS cache_hits, SUM(latency_sum_ms) AS latency_sum_ms, " +
  `SUM(ttft_count) AS ttft_count, SUM(ttft_sum_ms) AS ttft_sum_ms, ${bucketSums("latency")}, ${bucketSums("ttft")} ` +
  "FROM usage_rollups WHERE granularity = 'day' GROUP BY tenant_id, model, provider ORDER BY SUM(requests) DESC, tenant_id, model, provider LIMIT ?";

const ERRORS_SQL =
  "SELECT tenant_id, model, provider, error_class, SUM(requests) AS errors FROM usage_rollups WHERE granularity = 'day' AND error_class != '' " +
  "GROUP BY tenant_id, model, provider, error_class ORDER BY SUM(requests) DESC, tenant_id, model, provider, error_class LIMIT ?";

// Refusals by the gateway's own limits (workers/router/limits.ts): their error classes in the rollups.
const REJECTION_CLASSES = { rate_limit_exceeded: "edgeclaw_rate_limit_rejections_total", budget_exceeded: "edgeclaw_budget_rejections_total" } as const;

interface RejectionRow {
  tenant_id: string;
  model: string;
  error_class: keyof typeof REJECTION_CLASSES;
  rejections: number;
}

const REJECTIONS_SQL =
  "SELECT tenant_id, model, error_class, SUM(requests) AS rejections FROM usage_rollups WHERE granularity = 'day' AND error_class IN ('rate_limit_exceeded', 'budget_exceeded') " +
  "GROUP BY tenant_id, model, error_class ORDER BY SUM(requests) DESC, tenant_id, model, error_class LIMIT ?";

async function authorize(env: Env, header: string | undefined): Promise<void> {
  const secret = env.METRICS_TOKEN;
  if (!secret) throw new ApiError(503, "metrics_disabled", "The metrics endpoint is disabled: set the METRICS_TOKEN secret.");
  const token = bearerToken(header);
  if (!token) throw new ApiError(401, "missing_token", "Send the metrics token as 'Authorization: Bearer <token>'.");
  // Digests have one length whatever was sent, so the compare leaks neither length nor prefix.
  const [given, expected] = await Promise.all([sha256Hex(token), sha256Hex(secret)]);
  if (!sameDigest(given, expected)) throw new ApiError(401, "invalid_token", "The metrics token is wrong.");
}

// Every source read at once; the optional ones settle to null on failure (counted per source).
export async function renderMetrics(env: Env, options: { waitUntil?: (p: Promise<unknown>) => void; scrapeShards?: () => Promise<ShardScrape> } = {}): Promise<string> {
  const db = env.DB;
  const now = Date.now();
  const optional = <T>(p: Promise<T>) => p.then((v): T | null => v).catch((err) => (console.warn(JSON.stringify({ level: "warn", msg: "metrics: source failed", error: String(err).slice(0, 200) })), null));
  const [series, errors, rejections, breakers, channels, scheduler] = await Promise.all([
    db.prepare(SERIES_SQL).bind(MAX_SERIES + 1).all<SeriesRow>(),
    db.prepare(ERRORS_SQL).bind(MAX_SERIES + 1).all<ErrorRow>(),
    db.prepare(REJECTIONS_SQL).bind(MAX_SERIES + 1).all<RejectionRow>(),
    optional(readBreakers(db, now, MAX_SERIES)),
    optional(readChannels(db, MAX_SERIES)),
    optional((options.scrapeShards ?? (() => scrapeShards(env)))()),
  ]);
  options.waitUntil?.(purgeAgedBreakers(db, now).catch(() => {}));
  const rows = series.results.slice(0, MAX_SERIES);
  const errorRows = errors.results.slice(0, MAX_SERIES);
  const rejectionRows = rejections.results.slice(0, MAX_SERIES);
  const truncated =
    series.results.length > MAX_SERIES ||
    errors.results.length > MAX_SERIES ||
    rejections.results.length > MAX_SERIES ||
    breakers?.truncated === true ||
    channels?.truncated === true;
  const labels = (r: { tenant_id: string; model: string; provider: string }) => ({ tenant: r.tenant_id, model: r.model, provider: r.provider });
  const out = new Exposition();
  const counter = (name: string, help: string, value: (r: SeriesRow) => number) => {
    out.family(name, "counter", help);
    for (const r of rows) out.sample(name, labels(r), value(r));
  };
  counter("edgeclaw_requests_total", "Model calls metered (usage events), per tenant, public model and provider.", (r) => r.requests);
  out.family("edgeclaw_errors_total", "counter", "Model calls that ended in an error, by the error's code (class).");
  for (const r of errorRows) out.sample("edgeclaw_errors_total", { ...labels(r), class: r.error_class }, r.errors);
  counter("edgeclaw_input_tokens_total", "Input (prompt) tokens of metered calls.", (r) => r.input_tokens);
  counter("edgeclaw_output_tokens_total", "Output (completion) tokens of metered calls.", (r) => r.output_tokens);
  counter("edgeclaw_cost_usd_total", "Cost of metered calls in USD at the catalog's prices.", (r) => r.cost_micro_usd / 1_000_000);
  counter("edgeclaw_cache_hits_total", "Calls answered from the response cache (cache status HIT).", (r) => r.cache_hits);
  out.family("edgeclaw_request_duration_seconds", "histogram", "Time from the call's start to its end, as the gateway measured it.");
  for (const r of rows) {
    const cumulative = LATENCY_BUCKETS_MS.map((ms) => Number(r[`latency_le_${ms}`]));
    out.histogram("edgeclaw_request_duration_seconds", labels(r), SECONDS, cumulative, r.latency_sum_ms / 1000, r.requests);
  }
  out.family("edgeclaw_time_to_first_byte_seconds", "histogram", "Time to the first streamed byte, streamed calls only.");
  for (const r of rows) {
    if (r.ttft_count === 0) continue;
    const cumulative = LATENCY_BUCKETS_MS.map((ms) => Number(r[`ttft_le_${ms}`]));
    out.histogram("edgeclaw_time_to_first_byte_seconds", labels(r), SECONDS, cumulative, r.ttft_sum_ms / 1000, r.ttft_count);
  }
  for (const [errorClass, name] of Object.entries(REJECTION_CLASSES)) {
    out.family(name, "counter", `Model calls refused by the gateway's ${errorClass === "budget_exceeded" ? "budgets (402 budget_exceeded)" : "rate limits (429 rate_limit_exceeded)"}, per tenant and public model.`);
    for (const r of rejectionRows) if (r.error_class === errorClass) out.sample(name, { tenant: r.tenant_id, model: r.model }, r.rejections);
  }
  if (breakers) renderBreakers(out, breakers.rows);
  if (channels) renderChannels(out, channels);
  if (scheduler) renderScheduler(out, scheduler);
  out.family("edgeclaw_metrics_scrape_errors", "gauge", "Sources this scrape could not read and left out: breakers, channels (their D1 reads), scheduler (shards that failed or timed out, one each).");
  out.sample("edgeclaw_metrics_scrape_errors", { source: "breakers" }, breakers ? 0 : 1);
  out.sample("edgeclaw_metrics_scrape_errors", { source: "channels" }, channels ? 0 : 1);
  out.sample("edgeclaw_metrics_scrape_errors", { source: "scheduler" }, scheduler ? scheduler.errors : schedulerSettings(env).shards);
  out.family("edgeclaw_metrics_truncated", "gauge", `1 when more than ${MAX_SERIES} series of a kind existed and only the busiest were exposed.`);
  out.sample("edgeclaw_metrics_truncated", {}, truncated ? 1 : 0);
  return out.text();
}

export const metrics = new Hono<AppEnv>();

metrics.get("/", async (c) => {
  await authorize(c.env, c.req.header("authorization"));
  return c.body(await renderMetrics(c.env, { waitUntil: (p) => c.executionCtx.waitUntil(p) }), 200, { "content-type": CONTENT_TYPE, "cache-control": "no-store" });
});
