// The outside effects a scheduler shard has in flight in this isolate, counted per shard and per
// tenant. The shard starts an effect only when both counts are under their limits, so a tenant
// whose endpoint hangs holds at most its own share of the shard, and an effect that is still
// running is never started a second time by a later alarm (the run key is here until it settles).
// Memory only, on purpose: if the isolate dies its effects die with it, and their leased wheel
// rows come due again after the lease (docs/scheduler.md).
export interface InflightLimits {
  shard: number;
  tenant: number;
}

export function runKey(jobId: string, scheduledAt: number): string {
  return `${jobId}:${scheduledAt}`;
}

export class InflightEffects {
  // run key -> the tenant, and a token so that only the effect that started may finish it.
  private readonly running = new Map<string, { tenantId: string; token: symbol }>();
  private readonly perTenant = new Map<string, number>();
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

  // Forget everything: what a new isolate starts with (tests simulate a crash with it).
  clear(): void {
    this.running.clear();
    this.perTenant.clear();
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
