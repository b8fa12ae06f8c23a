// Overview: the last hour of traffic by minute from GET /admin/usage (the usage rollups), refreshed
// every REFRESH_MS. Tenant admins and viewers see their own tenant only (the API scopes the report).
import { useEffect, useState } from "preact/hooks";
import { api, type Session, type UsageRow } from "../api.ts";
import { Chart } from "./chart.tsx";
import { Head } from "./table.tsx";

const REFRESH_MS = 5_000;
const MINUTE = 60_000;
const SPAN_MIN = 60;

interface UsageReport {
  data: UsageRow[];
  next_cursor: string | null;
}

interface View {
  times: number[];
  perMinute: UsageRow[];
  groups: UsageRow[];
  updatedAt: Date;
}

function blank(bucket: string): UsageRow {
  return { bucket_start: bucket, requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, latency_sum_ms: 0, latency_avg_ms: null };
}

async function load(): Promise<View> {
  const to = Math.ceil((Date.now() + 1) / MINUTE) * MINUTE;
  const from = to - SPAN_MIN * MINUTE;
  const range = { from: String(from), to: String(to), granularity: "minute", limit: "10000" };
  const [series, grouped] = await Promise.all([
    api.get<UsageReport>("/usage", range),
    api.get<UsageReport>("/usage", { ...range, granularity: "hour", from: String(Math.floor(from / 3_600_000) * 3_600_000), group_by: "tenant,model" }),
  ]);
  // The report lists only minutes with traffic: fill the others with zeros for the charts.
  const byBucket = new Map(series.data.map((r) => [Date.parse(r.bucket_start), r]));
  const times: number[] = [];
  const perMinute: UsageRow[] = [];
  for (let t = from; t < to; t += MINUTE) {
    times.push(t / 1000);
    perMinute.push(byBucket.get(t) ?? blank(new Date(t).toISOString()));
  }
  const totals = new Map<string, UsageRow>();
  for (const r of grouped.data) {
    const key = `${r.tenant_id ?? ""}\u0000${r.model ?? ""}`;
    const t = totals.get(key) ?? { ...blank(""), tenant_id: r.tenant_id ?? null, model: r.model ?? null };
    t.requests += r.requests;
    t.errors += r.errors;
    t.input_tokens += r.input_tokens;
    t.output_tokens += r.output_tokens;
    t.cost_usd += r.cost_usd;
    t.latency_sum_ms += r.latency_sum_ms;
    totals.set(key, t);
  }
  return { times, perMinute, groups: [...totals.values()].sort((a, b) => b.requests - a.requests), updatedAt: new Date() };
}

const sum = (rows: UsageRow[], f: (r: UsageRow) => number) => rows.reduce((a, r) => a + f(r), 0);

// The latest minute with calls: its estimated p50 and p99.
function latestLatency(rows: UsageRow[]): string {
  const last = [...rows].reverse().find((r) => r.requests > 0 && r.latency_p50_ms != null);
  return last ? `Latest minute with calls: p50 ${last.latency_p50_ms} ms, p99 ${last.latency_p99_ms} ms` : "No calls in this span";
}
const fmtUsd = (n: number) => `$${n.toFixed(n < 1 ? 6 : 2)}`;

export function Overview(_: { session: Session }) {
  const [view, setView] = useState<View | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    const tick = () =>
      load().then(
        (v) => alive && (setView(v), setError(null)),
        (e: unknown) => alive && setError(e instanceof Error ? e.message : String(e)),
      );
    void tick();
    const timer = setInterval(tick, REFRESH_MS);
    return () => {
      alive = false;
      clearInterval(timer);
    };
  }, []);

  if (!view) return error ? <p role="alert" class="error">{error}</p> : <p role="status">Loading usage…</p>;
  const rows = view.perMinute;
  const requests = sum(rows, (r) => r.requests);
  const latencySum = sum(rows, (r) => r.latency_sum_ms);
  return (
    <>
      <p class="note">
        Last {SPAN_MIN} minutes, per minute, from the usage rollups (<code>GET /admin/usage</code>); refreshed every {REFRESH_MS / 1000} s.{" "}
        <span aria-live="polite">Updated {view.updatedAt.toLocaleTimeString("en-GB")}.</span>
      </p>
      {error && <p role="alert" class="error">Refresh failed: {error}</p>}
      <dl class="cards">
        <div>
          <dt>Requests</dt>
          <dd data-testid="total-requests">{requests}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd data-testid="total-errors">{sum(rows, (r) => r.errors)}</dd>
        </div>
        <div>
          <dt>Tokens in / out</dt>
          <dd>
            {sum(rows, (r) => r.input_tokens)} / {sum(rows, (r) => r.output_tokens)}
          </dd>
        </div>
        <div>
          <dt>Spend</dt>
          <dd>{fmtUsd(sum(rows, (r) => r.cost_usd))}</dd>
        </div>
        <div>
          <dt>Mean latency</dt>
          <dd>{requests > 0 ? `${Math.round(latencySum / requests)} ms` : "–"}</dd>
        </div>
      </dl>
      <div class="charts">
        <Chart
          title="Requests and errors"
          testId="chart-requests"
          times={view.times}
          series={[
            { label: "requests", values: rows.map((r) => r.requests), color: "#1f5fbf" },
            { label: "errors", values: rows.map((r) => r.errors), color: "#b3261e" },
          ]}
        />
        <Chart
          title="Latency p50 / p99 (ms, estimated)"
          testId="chart-latency"
          times={view.times}
          series={[
            { label: "p50", values: rows.map((r) => r.latency_p50_ms ?? 0), color: "#6b4fa0" },
            { label: "p99", values: rows.map((r) => r.latency_p99_ms ?? 0), color: "#b3261e" },
          ]}
          summary={latestLatency(rows)}
        />
        <Chart
          title="Tokens"
          testId="chart-tokens"
          times={view.times}
          series={[
            { label: "input", values: rows.map((r) => r.input_tokens), color: "#1f7a4d" },
            { label: "output", values: rows.map((r) => r.output_tokens), color: "#a05a00" },
          ]}
        />
        <Chart title="Spend (USD)" testId="chart-spend" times={view.times} series={[{ label: "USD", values: rows.map((r) => r.cost_usd), color: "#333333" }]} />
      </div>
      <h2>By tenant and model (this hour and the last)</h2>
      {view.groups.length === 0 ? (
        <p>No traffic in this span.</p>
      ) : (
        <table>
          <Head cols={["Tenant", "Model", "Requests", "Errors", "Tokens in", "Tokens out", "Spend", "Mean latency"]} />
          <tbody>
            {view.groups.map((g) => (
              <tr key={`${g.tenant_id}/${g.model}`}>
                <td>{g.tenant_id ?? "–"}</td>
                <td>{g.model ?? "–"}</td>
                <td>{g.requests}</td>
                <td>{g.errors}</td>
                <td>{g.input_tokens}</td>
                <td>{g.output_tokens}</td>
                <td>{fmtUsd(g.cost_usd)}</td>
                <td>{g.requests > 0 ? `${Math.round(g.latency_sum_ms / g.requests)} ms` : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="note">
        Latency p50 and p99 per minute are estimates from the usage rollups' latency histogram (its buckets start at 50 ms, so a
        fast call counts somewhere in 0-50 ms). Percentiles of different minutes or groups do not add up, so the totals above and the
        table show the mean.
      </p>
    </>
  );
}
