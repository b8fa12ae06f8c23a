// A fixed set of slots (one context sequence each) with a bounded FIFO queue in front of them.
// Past the slots requests wait in arrival order; past the queue limit they are refused at once,
// so a router can try another replica instead of piling up latency here.

export class QueueFullError extends Error {
  readonly queueLimit: number;
  constructor(queueLimit: number) {
    super(`the request queue is full (${queueLimit} waiting); try again shortly or another replica`);
    this.queueLimit = queueLimit;
  }
}

type Waiter<T> = { resolve: (slot: T) => void; reject: (e: unknown) => void; signal?: AbortSignal; onAbort?: () => void };

export class SlotPool<T> {
  private readonly slots: readonly T[];
  private readonly queueLimit: number;
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];
  private idleListeners: (() => void)[] = [];

  constructor(slots: readonly T[], queueLimit: number) {
    this.slots = slots;
    this.queueLimit = queueLimit;
    this.free = [...slots];
  }

  get size() { return this.slots.length; }
  get running() { return this.slots.length - this.free.length; }
  get waiting() { return this.waiters.length; }
  isFree(slot: T): boolean { return this.free.includes(slot); }
  get busySlots(): readonly T[] { return this.slots.filter((s) => !this.free.includes(s)); }

  /**
   * Resolves with a slot: the free one `rank` scores highest, else the next to be released.
   * Rejects with QueueFullError when the queue is full, or with the signal's reason on abort.
   */
  acquire(signal?: AbortSignal, rank: (slot: T) => number = () => 0): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free.length) {
      // Each rank is computed once: ranking may walk a slot's whole KV token list.
      const ranks = this.free.map(rank);
      const best = ranks.indexOf(Math.max(...ranks));
      return Promise.resolve(this.free.splice(best, 1)[0]!);
    }
    if (this.waiters.length >= this.queueLimit) return Promise.reject(new QueueFullError(this.queueLimit));
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = { resolve, reject, signal };
      if (signal) {
        // A client that gives up while queued leaves the queue at once.
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(signal.reason);
          this.notifyIfIdle();
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  release(slot: T) {
    const next = this.waiters.shift();
    if (next) {
      if (next.onAbort) next.signal?.removeEventListener("abort", next.onAbort);
      next.resolve(slot);
      return;
    }
    this.free.push(slot);
    this.notifyIfIdle();
  }

  /** Resolves once no slot is in use and nobody waits (used to retire a replaced model). */
  whenIdle(): Promise<void> {
    if (this.running === 0 && this.waiting === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private notifyIfIdle() {
    if (this.running !== 0 || this.waiting !== 0) return;
    const listeners = this.idleListeners;
    this.idleListeners = [];
    listeners.forEach((l) => l());
  }
}
