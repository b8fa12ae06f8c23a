// Placement across a target's replicas (self-hosted GPU servers) from the load they report:
// the `x-queue-depth` response header, and vLLM's Prometheus gauges (num_requests_waiting +
// num_requests_running) polled from a replica's metrics_url at most every POLL_MS, off the
// request path. A request with a session key stays on its replica while that replica is
// healthy (its prefix/KV cache is warm there): rendezvous hashing ranks the replicas for the
// session the same way in every isolate, with no shared state. Without a session, or when the
// session's replica is unhealthy, the less loaded of two random healthy replicas is taken.
import type { Env } from "../env.ts";
import { joinChunks, readUpTo } from "../http/bounded-read.ts";
import { refusedUrl } from "./outbound.ts";

export interface Replica {
  id: string;
  baseUrl: string;
  metricsUrl: string | null;
}

interface Load {
  queued: number;
  at: number;
  polledAt: number;
}

const POLL_MS = 2_000;
// A reported load older than this no longer says anything.
const FRESH_MS = 10_000;
const loads = new Map<string, Load>();

function loadOf(key: string, now: number): Load {
  let l = loads.get(key);
  if (!l) {
    l = { queued: 0, at: 0, polledAt: 0 };
    if (loads.size > 10_000) loads.delete(loads.keys().next().value as string);
    loads.set(key, l);
  }
  if (now - l.at > FRESH_MS) l.queued = 0;
  return l;
}

export function reportedQueue(key: string): number {
  return loadOf(key, Date.now()).queued;
}

export function recordQueueHeader(key: string, headers: Headers): void {
  const value = Number(headers.get("x-queue-depth"));
  if (headers.has("x-queue-depth") && Number.isFinite(value) && value >= 0) {
    const l = loadOf(key, Date.now());
    l.queued = value;
    l.at = Date.now();
  }
}

// vLLM exposes e.g. `vllm:num_requests_waiting{model_name="m"} 3.0`.
export function parseVllmLoad(text: string): number | null {
  let total = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    const m = /^vllm:num_requests_(waiting|running)(?:\{[^}]*\})?\s+([0-9.eE+-]+)/.exec(line);
    if (m) {
      total += Number(m[2]);
      seen = true;
    }
  }
  return seen ? total : null;
}

// The metrics URL passes the outbound-URL policy here, at the point of use, as well as when the
// provider was written. It carries the provider's credential only when it is on the replica's own
// origin: both URLs come from the provider row (never a route config), and a self-hosted server
// such as the gpu-backend guards /metrics with the same key as /v1. A metrics page elsewhere gets
// no credential.
export function pollIfDue(env: Env, key: string, replica: Replica, waitUntil: (p: Promise<unknown>) => void, bearer?: string): void {
  if (!replica.metricsUrl || refusedUrl(env, replica.metricsUrl) !== null) return;
  const now = Date.now();
  const l = loadOf(key, now);
  if (now - l.polledAt < POLL_MS) return;
  l.polledAt = now;
  waitUntil(
    fetch(replica.metricsUrl, {
      headers: bearer !== undefined && sameOrigin(replica.metricsUrl, replica.baseUrl) ? { authorization: `Bearer ${bearer}` } : {},
      signal: AbortSignal.timeout(1_000),
      redirect: "manual",
    })
      .then((r) => (r.ok ? readMetricsPage(r) : ""))
      .then((text) => {
        const queued = parseVllmLoad(text);
        if (queued !== null) {
          l.queued = queued;
          l.at = Date.now();
        }
      })
      .catch(() => {}),
  );
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

// A replica's metrics page is read whole into the isolate, and the provider (possibly a tenant's)
// chooses what it answers: past this size the rest is not read. vLLM's page is a few KiB.
const MAX_METRICS_BYTES = 256 * 1024;

export async function readMetricsPage(response: Response, max = MAX_METRICS_BYTES): Promise<string> {
  if (!response.body) return "";
  const read = await readUpTo(response.body, max);
  const text = new TextDecoder().decode(joinChunks(read));
  // Past the cap only whole lines count: the last one may be cut.
  return read.over ? text.slice(0, text.lastIndexOf("\n") + 1) : text;
}

// FNV-1a: a fast, well-spread 32-bit hash for rendezvous ranking.
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

// The session's own replica when it is among the healthy candidates; otherwise (no session, or
// its replica is unhealthy) the less loaded of two random candidates.
export function pickReplica<R extends Replica>(
  all: R[],
  candidates: R[],
  sessionKey: string | null,
  loadFor: (r: R) => number,
  random = Math.random,
): R | undefined {
  if (sessionKey) {
    const home = sessionReplica(all, sessionKey);
    if (home && candidates.includes(home)) return home;
  }
  if (candidates.length <= 1) return candidates[0];
  const i = Math.floor(random() * candidates.length);
  let j = Math.floor(random() * (candidates.length - 1));
  if (j >= i) j++;
  const a = candidates[i] as R;
  const b = candidates[j] as R;
  return loadFor(b) < loadFor(a) ? b : a;
}

// Rendezvous hashing: every isolate ranks the replicas the same way for one session, and adding
// or removing a replica moves only the sessions that were on it.
function sessionReplica<R extends Replica>(all: R[], sessionKey: string): R | undefined {
  let best: R | undefined;
  let bestScore = -1;
  for (const r of all) {
    const score = fnv1a(`${sessionKey}\n${r.id}`);
    if (score > bestScore) {
      best = r;
      bestScore = score;
    }
  }
  return best;
}
