// Models & routes, the live figures the admin API has: calls in the usage rollups by the model
// name the caller asked for (a route's name for a routed call) and the provider that served it
// (GET /admin/usage grouped by model and provider: this hour and the last), the
// tenant's spend against its budgets (GET /admin/router-config/spend), and the breakers
// (routes.tsx). What no API exposes is named, not invented: the router's QoS figures (EWMAs of
// latency and error rate) and the weights it derives from them live per Worker isolate, and
// replica queue depths are read per isolate from each replica's x-queue-depth header or
// metrics_url (docs/router.md); there is no endpoint that gathers them.
import { useEffect, useState } from "preact/hooks";
import { api, message, type UsageRow } from "../api.ts";
import { Head } from "./table.tsx";

interface Spend {
  day: string;
  day_usd: number;
  month: string;
  month_usd: number;
}
type Caps = Record<string, number>;

const usd = (n: number) => `$${n.toFixed(n < 1 ? 6 : 2)}`;
const HOUR = 3_600_000;

// Rows of the two hour buckets added up per (model, provider).
function perTarget(rows: UsageRow[]): UsageRow[] {
  const sums = new Map<string, UsageRow>();
  for (const r of rows) {
    const key = `${r.model ?? ""}\u0000${r.provider ?? ""}`;
    const sum = sums.get(key) ?? { bucket_start: r.bucket_start, provider: r.provider, model: r.model, requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0, latency_sum_ms: 0, latency_avg_ms: null };
    sum.latency_sum_ms += r.latency_sum_ms;
    sum.requests += r.requests;
    sum.errors += r.errors;
    sum.input_tokens += r.input_tokens;
    sum.output_tokens += r.output_tokens;
    sum.cost_usd += r.cost_usd;
    sum.latency_avg_ms = sum.requests ? Math.round(sum.latency_sum_ms / sum.requests) : null;
    sums.set(key, sum);
  }
  return [...sums.values()].sort((a, b) => b.requests - a.requests);
}

export function TargetTraffic({ tenant, version }: { tenant: string; version: number }) {
  const [rows, setRows] = useState<UsageRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => {
    const to = Math.ceil(Date.now() / HOUR) * HOUR;
    api
      .get<{ data: UsageRow[] }>("/usage", { tenant_id: tenant, granularity: "hour", from: String(to - 2 * HOUR), to: String(to), group_by: "model,provider", limit: "1000" })
      .then((r) => setRows(perTarget(r.data)), (e: unknown) => setError(message(e)));
  };
  useEffect(load, [tenant, version]);
  return (
    <section aria-labelledby="traffic-h">
      <h2 id="traffic-h">Calls by model and serving provider (this hour and the last)</h2>
      <button type="button" onClick={load}>
        Refresh calls
      </button>
      {error && <p class="note">Usage: {error}</p>}
      {rows?.length === 0 && <p>No calls in these two hours.</p>}
      <table data-testid="target-traffic">
        <Head cols={["Model or route (as asked for)", "Served by provider", "Calls", "Errors", "Mean latency", "Tokens in / out", "Spend"]} />
        <tbody>
          {(rows ?? []).map((r) => (
            <tr key={`${r.model}/${r.provider}`}>
              <td>{r.model ?? "–"}</td>
              <td>{r.provider ?? "none (refused or cached)"}</td>
              <td>{r.requests}</td>
              <td>{r.errors}</td>
              <td>{r.latency_avg_ms === null ? "–" : `${r.latency_avg_ms} ms`}</td>
              <td>
                {r.input_tokens} / {r.output_tokens}
              </td>
              <td>{usd(r.cost_usd)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p class="note">
        From the usage rollups, which count a call under the model name it asked for and the provider of the target that served it (or last tried): the
        targets of one route on the same provider share a row, and the rollups keep no per-target or per-replica split. Not shown because no API exposes them: the router's QoS figures per target (latency and error-rate averages) and the live weights it derives from
        them are kept per Worker isolate, and replica queue depths are read per isolate from each replica; the weights in the trees above are the configured
        ones.
      </p>
    </section>
  );
}

export function SpendLine({ tenant, budgets, version }: { tenant: string; budgets: Caps | undefined; version: number }) {
  const [spend, setSpend] = useState<Spend | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.get<Spend>("/router-config/spend", { tenant_id: tenant }).then(setSpend, (e: unknown) => setError(message(e)));
  }, [tenant, version]);
  if (error) return <p class="note">Spend: {error}</p>;
  if (!spend) return null;
  const of = (cap: number | undefined) => (cap === undefined ? " (no budget)" : ` of ${usd(cap)}`);
  return (
    <p data-testid="spend">
      Spend today ({spend.day}): {usd(spend.day_usd)}
      {of(budgets?.daily_usd)}; this month ({spend.month}): {usd(spend.month_usd)}
      {of(budgets?.monthly_usd)}.
    </p>
  );
}
