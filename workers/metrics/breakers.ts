// Circuit-breaker state for GET /metrics. Each breaker is a Durable Object
// (durable-objects/circuit-breaker.ts); a scrape cannot ask them all, so each one mirrors its
// phase into D1's breaker_states (schema/metrics.ts) from its own alarm: never on a request path,
// retried with backoff (MAX_MIRROR_FAILURES in a row, then until the next change). The scrape
// reads that table.
//   - written after a phase change, at most once per MIN_WRITE_MS (changes in between merge into
//     the next write, which has the latest phase and transition count), and refreshed every
//     REFRESH_MS while the breaker is being called, so a row carries when it was last known;
//   - a row not refreshed for ROW_TTL_MS belongs to a target nobody calls any more (removed from
//     the route config, or the route itself): it is no longer exposed, and deleted by the scrape.
import type { BreakerPhase } from "../router/state/breaker.ts";
import type { Exposition } from "./exposition.ts";

export const REFRESH_MS = 3_600_000;
export const ROW_TTL_MS = 24 * 3_600_000;
// Rows deleted per scrape at most (the rest go on the next one).
const PURGE_CHUNK = 500;

export const PHASE_VALUE: Record<BreakerPhase, number> = { closed: 0, half_open: 1, open: 2 };

export interface BreakerKeyParts {
  tenant: string;
  route: string;
  target: string;
}

// `<tenant>|<route>|<target path>[@replica]` (workers/router/breakers.ts breakerKey). Tenant ids
// and route names cannot hold '|' (schema/route-config.ts); anything else is not a router
// breaker (tests make bare keys) and is not mirrored.
export function parseBreakerKey(key: string): BreakerKeyParts | null {
  const first = key.indexOf("|");
  const second = first < 0 ? -1 : key.indexOf("|", first + 1);
  if (first <= 0 || second <= first + 1 || second === key.length - 1 || key.length > 1024) return null;
  return { tenant: key.slice(0, first), route: key.slice(first + 1, second), target: key.slice(second + 1) };
}

export interface BreakerMirror {
  phase: BreakerPhase;
  transitions: number;
  openUntil: number;
  changedAt: number;
}

// One upsert; a row never goes back to an older transition count (an alarm retried late cannot
// overwrite a newer phase).
export async function writeBreakerRow(db: D1Database, key: string, parts: BreakerKeyParts, m: BreakerMirror, now: number): Promise<void> {
  await db
    .prepare(
      `INSERT INTO breaker_states (key, tenant_id, route, target, phase, transitions, open_until, changed_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET phase = excluded.phase, transitions = excluded.transitions, open_until = excluded.open_until,
         changed_at = excluded.changed_at, updated_at = excluded.updated_at
       WHERE excluded.transitions >= breaker_states.transitions`,
    )
    .bind(key, parts.tenant, parts.route, parts.target, PHASE_VALUE[m.phase], m.transitions, m.phase === "open" ? m.openUntil : 0, m.changedAt, now)
    .run();
}

// One breaker writes its row at most this often: a flapping breaker (a tenant's own failing
// upstream, open_ms down to 100 ms) would otherwise write the shared D1 several times a second.
export const MIN_WRITE_MS = 10_000;
// Failed writes in a row after which the mirror alarm stops (a region whose D1 lacks the table);
// the breaker's next phase change or refresh starts another run of retries.
export const MAX_MIRROR_FAILURES = 6;

// Backoff of the mirror alarm after a failed D1 write: MIN_WRITE_MS doubling, at most 5 minutes
// (10, 20, 40, 80, 160 s: about five minutes of retries before it gives up).
export function mirrorRetryMs(failures: number): number {
  return Math.min(300_000, MIN_WRITE_MS * 2 ** Math.min(Math.max(failures - 1, 0), 10));
}

interface BreakerRow {
  tenant_id: string;
  route: string;
  target: string;
  phase: number;
  transitions: number;
}

// The rows a scrape exposes: at most `max` (+1 to tell truncation), open ones first, then
// half-open, then the most recently changed.
export async function readBreakers(db: D1Database, now: number, max: number): Promise<{ rows: BreakerRow[]; truncated: boolean }> {
  const { results } = await db
    .prepare(
      "SELECT tenant_id, route, target, phase, transitions FROM breaker_states WHERE updated_at >= ? ORDER BY phase DESC, changed_at DESC, key LIMIT ?",
    )
    .bind(now - ROW_TTL_MS, max + 1)
    .all<BreakerRow>();
  return { rows: results.slice(0, max), truncated: results.length > max };
}

// Deletes aged rows, a bounded chunk per scrape (run in waitUntil: the answer does not wait).
export async function purgeAgedBreakers(db: D1Database, now: number): Promise<void> {
  await db
    .prepare("DELETE FROM breaker_states WHERE key IN (SELECT key FROM breaker_states WHERE updated_at < ? LIMIT ?)")
    .bind(now - ROW_TTL_MS, PURGE_CHUNK)
    .run();
}

export function renderBreakers(out: Exposition, rows: BreakerRow[]): void {
  const labels = (r: BreakerRow) => ({ tenant: r.tenant_id, route: r.route, target: r.target });
  out.family("edgeclaw_breaker_state", "gauge", "Circuit breaker phase per tenant, route and target: 0 closed, 1 half-open, 2 open.");
  for (const r of rows) out.sample("edgeclaw_breaker_state", labels(r), r.phase);
  out.family("edgeclaw_breaker_transitions_total", "counter", "Phase changes of the circuit breaker since its object was created.");
  for (const r of rows) out.sample("edgeclaw_breaker_transitions_total", labels(r), r.transitions);
}
