// Exact-match response cache, keyed by tenant + the normalized request (keys sorted, so field
// order does not matter; `stream` is part of the key since the stored form differs). Two
// levels: this isolate's memory (bounded by bytes, LRU) and the location's Cache API, so other
// isolates find an answer too. Streams are recorded as the SSE text the client got and replayed
// event by event. Identical misses in flight at once share one upstream call: the first is the
// leader, the others wait for what it stores (and call upstream themselves if it stores nothing).
// Requests that sample (temperature > 0 without a seed) are only cached when the route opts in.
// Other operations (text completions, embeddings) are keyed by their name too, so no two
// operations' answers can meet under one key.
// The shared level costs a round trip per lookup and a write per miss; it only pays off for
// answers that are slow to produce again. So per route this isolate keeps a moving average of
// what a miss cost upstream, and uses the shared level (lookups and writes) only while that is
// at least SHARED_MIN_MS (or not yet known). One answer's own time does not decide: on a busy
// isolate it includes waiting behind other requests, and writing every answer that waited
// through a pause would pile Cache API writes onto the pause (measured: the router's p99 at
// concurrency 10 rose from about 46 to 66 ms that way on the local host).
import { nativeAnthropicBody } from "../../schema/anthropic.ts";
import { sha256Hex } from "../auth/encoding.ts";
import type { Route } from "../../schema/route-config.ts";

export interface CachedAnswer {
  kind: "json" | "sse";
  body: string;
  served: { path: string; provider: string; upstreamModel: string };
  storedAt: number;
  expiresAt: number;
}

export type CacheStatus = "HIT" | "MISS" | "REFRESH" | "BYPASS" | "COALESCED";

export interface CachePlan {
  // Null: no caching for this request (status BYPASS).
  key: string | null;
  lookup: boolean;
  // Whether the location's Cache API is worth a lookup for this route.
  shared: boolean;
  // Names the route for the miss-cost average.
  scope: string;
  ttlS: number;
  status: CacheStatus;
}

const MAX_BYTES = 32 * 1024 * 1024;
const MAX_ENTRY_BYTES = 1024 * 1024;
const MAX_TTL_S = 86_400;
export const CACHE_ORIGIN = "https://response-cache.edgeclaw.internal/";
// Model answers take hundreds of ms; anything much faster is cheaper to ask again than to share.
export const SHARED_MIN_MS = 100;
const MISS_COST_ALPHA = 0.2;
const MAX_SCOPES = 10_000;

// Per tenant and route: moving average of what a miss cost upstream (ms).
const missCost = new Map<string, number>();

export function recordMissCost(scope: string, ms: number): void {
  const old = missCost.get(scope);
  if (old === undefined && missCost.size >= MAX_SCOPES) missCost.delete(missCost.keys().next().value as string);
  missCost.set(scope, old === undefined ? ms : old + MISS_COST_ALPHA * (ms - old));
}

function sharedWorthIt(scope: string): boolean {
  return (missCost.get(scope) ?? SHARED_MIN_MS) >= SHARED_MIN_MS;
}

const memory = new Map<string, CachedAnswer>();
let memoryBytes = 0;
const inFlight = new Map<string, Promise<CachedAnswer | null>>();

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

// What the cache reads of a request (chat, text completion or embedding): all of it for the key.
export interface Cacheable {
  model: string;
  temperature?: number | null;
  seed?: number | null;
  stream?: boolean | null;
  stream_options?: unknown;
}

export function deterministic(request: Cacheable): boolean {
  return request.temperature === 0 || (request.seed !== undefined && request.seed !== null);
}

async function cacheKey(tenantId: string, request: Cacheable, operation: string | undefined): Promise<string> {
  const { stream, stream_options: _options, ...rest } = request;
  // A Messages-ingress request carries the client's own body for an Anthropic target (under a
  // symbol, which the spread above leaves out): what the chat view drops (thinking blocks in the
  // history, cache_control) still tells two requests apart.
  const native = nativeAnthropicBody(request);
  const text = `${tenantId}\n${stream === true ? "sse" : "json"}\n${operation === undefined ? "" : `${operation}\n`}${stable(rest)}${native ? `\n${stable(native)}` : ""}`;
  return sha256Hex(text);
}

// Headers: x-edgeclaw-cache: skip (neither read nor write) | refresh (write, do not read);
// x-edgeclaw-cache-ttl: seconds, only on a route whose config turns caching on (ttl_s > 0): it
// changes the TTL (at most 24 h; 0 turns caching off for this request) but never turns caching on
// for a route that has it off, so a client cannot make the gateway store answers its operator
// chose not to keep.
export async function planCache(
  tenantId: string,
  routeName: string,
  request: Cacheable,
  route: Route["cache"],
  headers: Headers,
  // Absent for chat.
  operation?: string,
): Promise<CachePlan> {
  const mode = headers.get("x-edgeclaw-cache")?.trim().toLowerCase();
  const routeTtlS = route?.ttl_s ?? 0;
  const ttlHeader = routeTtlS > 0 ? headers.get("x-edgeclaw-cache-ttl") : null;
  const requested = ttlHeader !== null && /^\d{1,6}$/.test(ttlHeader.trim()) ? Math.min(MAX_TTL_S, Number(ttlHeader)) : null;
  const ttlS = requested ?? routeTtlS;
  const scope = `${tenantId}\n${routeName}`;
  const off = { key: null, lookup: false, shared: false, scope, ttlS: 0, status: "BYPASS" as const };
  if (mode === "skip" || ttlS <= 0) return off;
  if (!deterministic(request) && route?.nondeterministic !== true) return off;
  const key = await cacheKey(tenantId, request, operation);
  const shared = sharedWorthIt(scope);
  return mode === "refresh" ? { key, lookup: false, shared, scope, ttlS, status: "REFRESH" } : { key, lookup: true, shared, scope, ttlS, status: "MISS" };
}

function remember(key: string, entry: CachedAnswer): void {
  const size = entry.body.length * 2;
  if (size > MAX_ENTRY_BYTES) return;
  const old = memory.get(key);
  if (old) {
    memoryBytes -= old.body.length * 2;
    memory.delete(key);
  }
  while (memoryBytes + size > MAX_BYTES && memory.size > 0) {
    const [oldestKey, oldest] = memory.entries().next().value as [string, CachedAnswer];
    memory.delete(oldestKey);
    memoryBytes -= oldest.body.length * 2;
  }
  memory.set(key, entry);
  memoryBytes += size;
}

const cacheApi = (): Cache | null => (typeof caches !== "undefined" ? (caches as unknown as { default: Cache }).default : null);

// The isolate's copy answers without touching the Cache API; `shared` says whether to ask it.
export async function lookup(key: string, shared: boolean): Promise<CachedAnswer | null> {
  const now = Date.now();
  const hit = memory.get(key);
  if (hit) {
    if (hit.expiresAt > now) {
      // Refresh its place in the LRU order.
      memory.delete(key);
      memory.set(key, hit);
      return hit;
    }
    memory.delete(key);
    memoryBytes -= hit.body.length * 2;
  }
  if (!shared) return null;
  try {
    const res = await cacheApi()?.match(CACHE_ORIGIN + key);
    if (!res) return null;
    const entry = (await res.json()) as CachedAnswer;
    if (entry.expiresAt <= now) return null;
    remember(key, entry);
    return entry;
  } catch {
    return null;
  }
}

// Answers of routes whose misses are cheap stay in the isolate only (`scope` names the route).
export async function store(key: string, entry: CachedAnswer, scope: string): Promise<void> {
  remember(key, entry);
  if (!sharedWorthIt(scope)) return;
  const ttl = Math.max(1, Math.floor((entry.expiresAt - Date.now()) / 1000));
  try {
    await cacheApi()?.put(
      CACHE_ORIGIN + key,
      new Response(JSON.stringify(entry), { headers: { "content-type": "application/json", "cache-control": `max-age=${ttl}` } }),
    );
  } catch {
    // The isolate copy still serves; the shared level is best effort.
  }
}

// Single flight: the leader's promise, for followers to wait on.
export function leaderFor(key: string): Promise<CachedAnswer | null> | undefined {
  return inFlight.get(key);
}

export function lead(key: string): { done(entry: CachedAnswer | null): void } {
  let resolve!: (entry: CachedAnswer | null) => void;
  inFlight.set(key, new Promise((r) => (resolve = r)));
  return {
    done(entry) {
      inFlight.delete(key);
      resolve(entry);
    },
  };
}

// A recorded stream, replayed one event per chunk.
export function replay(body: string): ReadableStream<Uint8Array> {
  const events = body.split(/(?<=\n\n)/);
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = events[i++];
      if (next === undefined) controller.close();
      else controller.enqueue(encoder.encode(next));
    },
  });
}
