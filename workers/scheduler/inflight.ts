// The outside effects a scheduler shard has in flight in this isolate, counted per shard and per
// tenant. The shard starts an effect only when both counts are under their limits, so a tenant
// whose endpoint hangs holds at most its own share of the shard, and an effect that is still
// running is never started a second time by a later alarm (the run key is here until it settles).
// It also remembers the due effects put off because a limit was full, per tenant and oldest
// first, so that a freed slot is taken at once rather than at the next poll of the wheel.
// Memory only, on purpose: if the isolate dies its effects die with it, and their leased wheel
// rows come due again after the lease; rows put off come due at their deferred bucket anyway.
export interface InflightLimits {
  shard: number;
  tenant: number;
}

export function runKey(jobId: string, scheduledAt: number): string {
  return `${jobId}:${scheduledAt}`;
}

export interface WaitingRun {
  jobId: string;
  scheduledAt: number;
}

export class InflightEffects {
  // run key -> the tenant, and a token so that only the effect that started may finish it.
  private readonly running = new Map<string, { tenantId: string; token: symbol }>();
  private readonly perTenant = new Map<string, number>();
  private readonly waiting = new Map<string, Map<string, WaitingRun>>();
  private readonly limits: InflightLimits;

  constructor(limits: InflightLimits) {
    this.limits = limits;
  }

  get size(): number {
    return this.running.size;
  }

  has(key: string): boolean {
    return this.running.has(key);
  }

  // May one more effect of this tenant start now?
  admits(tenantId: string): boolean {
    return this.running.size < this.limits.shard && (this.perTenant.get(tenantId) ?? 0) < this.limits.tenant;
  }

  start(key: string, tenantId: string): symbol {
    const token = Symbol(key);
    this.running.set(key, { tenantId, token });
    this.perTenant.set(tenantId, (this.perTenant.get(tenantId) ?? 0) + 1);
    return token;
  }

  finish(key: string, token: symbol): void {
    const entry = this.running.get(key);
    if (entry === undefined || entry.token !== token) return;
    const { tenantId } = entry;
    this.running.delete(key);
    const left = (this.perTenant.get(tenantId) ?? 1) - 1;
    if (left > 0) this.perTenant.set(tenantId, left);
    else this.perTenant.delete(tenantId);
  }

  // A due effect that could not start (a limit was full); it keeps its place in its tenant's line.
  wait(tenantId: string, run: WaitingRun): void {
    let line = this.waiting.get(tenantId);
    if (!line) this.waiting.set(tenantId, (line = new Map()));
    const key = runKey(run.jobId, run.scheduledAt);
    if (!line.has(key)) line.set(key, run);
  }

  // The run is being handled (started, settled, skipped): it no longer waits.
  unwait(tenantId: string, key: string): void {
    const line = this.waiting.get(tenantId);
    if (!line?.delete(key)) return;
    if (line.size === 0) this.waiting.delete(tenantId);
  }

  // A slot was freed: the oldest waiting run of each tenant, taken out of the lines, to be tried
  // now (one per tenant, so a tenant with thousands waiting costs one row per freed slot).
  takeNext(): WaitingRun[] {
    const next: WaitingRun[] = [];
    for (const [tenantId, line] of this.waiting) {
      const first = line.entries().next().value;
      if (!first) continue;
      line.delete(first[0]);
      if (line.size === 0) this.waiting.delete(tenantId);
      next.push(first[1]);
    }
    return next;
  }

  // Effects running, and runs waiting for a slot (for /metrics).
  counts(): { running: number; waiting: number } {
    let waiting = 0;
    for (const line of this.waiting.values()) waiting += line.size;
    return { running: this.running.size, waiting };
  }

  // Forget everything: what a new isolate starts with (tests simulate a crash with it).
  clear(): void {
    this.running.clear();
    this.perTenant.clear();
    this.waiting.clear();
  }
}

// Runs `effect` with an abort signal that fires after `ms`, and settles by then at the latest:
// an effect that ignores its signal is abandoned (its late result is dropped), so the caller's
// slot is free on time whatever the effect does.
export async function withDeadline<T>(ms: number, effect: (signal: AbortSignal) => Promise<T>, onTimeout: () => T): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError"));
      resolve(onTimeout());
    }, ms);
  });
  const running = effect(controller.signal);
  // The abandoned effect may still reject later: nobody waits for it, so it must not be unhandled.
  running.catch(() => {});
  try {
    return await Promise.race([running, expired]);
  } finally {
    clearTimeout(timer);
  }
}
