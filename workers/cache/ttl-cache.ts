// A small per-isolate cache: entries live for a fixed TTL, concurrent misses for one key share a
// single load (so a burst of requests with a cold key costs one D1 query, not one each), and the
// entry count is bounded so random keys cannot grow an isolate's memory without limit.
// Absent results (null) are cached too, which keeps a flood of wrong keys off D1.
//
// Stale-while-revalidate is opt-in (`staleMs`): for that long past the TTL an entry is still
// returned at once while one background load refreshes it, so no request waits on D1 for a key
// the isolate has seen recently. A change then reaches the isolate within ttlMs + staleMs at
// worst. Callers whose staleness is a security bound (API key revocation, documented as
// CACHE_TTL_MS) leave it at 0: past the TTL they wait for the load.
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expiresAt: number }>();
  private readonly loading = new Map<string, { promise: Promise<V>; startedAt: number }>();
  // Bumped by clear()/invalidate(): a load that started before must not repopulate stale data.
  private generation = 0;

  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(maxEntries: number, now: () => number = () => Date.now()) {
    this.maxEntries = maxEntries;
    this.now = now;
  }

  async get(key: string, ttlMs: number, load: () => Promise<V>, staleMs = 0): Promise<V> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > now) return hit.value;
    if (hit && hit.expiresAt + staleMs > now) {
      // Nobody awaits a background refresh, so its failure is only logged; the stale value
      // stays until the window closes, and the next request tries again.
      this.start(key, ttlMs, load).catch((err: unknown) =>
        console.error(JSON.stringify({ level: "warn", msg: "cache refresh failed", error: String(err) })),
      );
      return hit.value;
    }
    if (hit) this.entries.delete(key);
    return this.start(key, ttlMs, load);
  }

  invalidate(key: string): void {
    this.generation++;
    this.entries.delete(key);
    this.loading.delete(key);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.loading.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  // The shared load for a key. A load nobody awaited (a background refresh) can be dropped with
  // the request that started it and never settle; one older than ABANDONED_MS is therefore not
  // joined but replaced, so a key cannot stay stuck behind it.
  private start(key: string, ttlMs: number, load: () => Promise<V>): Promise<V> {
    const pending = this.loading.get(key);
    if (pending && this.now() - pending.startedAt < ABANDONED_MS) return pending.promise;

    const generation = this.generation;
    const promise = load()
      .then((value) => {
        if (generation === this.generation) this.set(key, value, ttlMs);
        return value;
      })
      .finally(() => {
        // An invalidate or a replacement may have put a newer load under this key: keep it.
        if (this.loading.get(key)?.promise === promise) this.loading.delete(key);
      });
    this.loading.set(key, { promise, startedAt: this.now() });
    return promise;
  }

  private set(key: string, value: V, ttlMs: number): void {
    // Map keeps insertion order, so the first key is the oldest: evict it when full. A refresh
    // of a key already present replaces it in place.
    if (!this.entries.has(key) && this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs });
  }
}

// Far longer than a D1 query takes; only a load that will never settle gets this old.
const ABANDONED_MS = 10_000;
