// An isolate's lease on a counter that a Durable Object owns (a token bucket, a spend
// allowance), so that requests are admitted without a round trip each. The object grants a
// slice of what it holds (never more), the holder admits requests from the slice locally, tops
// it up in the background once it runs low, and waits on the object only when the slice cannot
// cover a request. Real usage is reconciled against the slice (a reservation's unused part
// goes back into it); spend that must reach the object (budgets) is reported in batches, at
// most every `flushMs`. A slice unused for `ttlMs` is handed back, so another isolate can have
// it: meanwhile the limit may under-admit, never over-admit.
// Amounts are vectors (a bucket has requests and tokens; a budget one amount); a dimension whose
// chunk is null is not limited.

export type Amounts = number[];

export interface Exchange<R> {
  give: Amounts; // handed back (negative: taken, when calls used more than they reserved)
  report: number; // spend since the last exchange (budgets)
  want: Amounts; // asked for
  need: Amounts | null; // the smallest request waiting: grant at least this or refuse
}

export type ExchangeAnswer<R> = { ok: true; granted: Amounts } | { ok: false; refusal: R };

export interface LeaseTerms<R> {
  // Per dimension: what a top-up asks for; null where the counter sets no limit.
  chunk: (number | null)[];
  call: (x: Exchange<R>) => Promise<ExchangeAnswer<R>>;
  waitUntil: (p: Promise<unknown>) => void;
  // The period a slice belongs to (budgets: the UTC day and month); a new period starts a new
  // slice, because the object books allowances per period.
  epoch?: string;
}

export type Admission<R> = { ok: true; epoch: string } | { ok: false; refusal: R };

interface Waiter<R> {
  need: Amounts;
  outcome: Admission<R> | null;
  error: unknown;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class LeaseHolder<R> {
  private readonly dims: number;
  private readonly ttlMs: number;
  private readonly flushMs: number;
  private balance: Amounts;
  private expiresAt = 0;
  private epoch = "";
  private unreported = 0;
  private busy = false;
  private waiters: Waiter<R>[] = [];
  private round: Promise<void> = Promise.resolve(); // the exchange on its way
  private timer: number | null = null; // when the armed timer fires
  private lastFlush = 0;
  private terms!: LeaseTerms<R>;

  constructor(dims: number, opts: { ttlMs: number; flushMs: number }) {
    this.dims = dims;
    this.ttlMs = opts.ttlMs;
    this.flushMs = opts.flushMs;
    this.balance = new Array<number>(dims).fill(0);
  }

  // Admits a request needing `need` from the slice, or asks the object.
  take(need: Amounts, terms: LeaseTerms<R>): Admission<R> | Promise<Admission<R>> {
    this.terms = terms;
    if (this.waiters.length === 0 && this.current() && this.covers(need)) {
      this.debit(need);
      if (!this.busy && this.low()) terms.waitUntil(this.run(false, terms));
      return { ok: true, epoch: this.epoch };
    }
    return this.wait({ need, outcome: null, error: undefined }, terms);
  }

  // Waits for the exchanges with the object to decide. The promise waited on is made by the
  // request running the exchange (a promise made in one request and resolved by another is
  // refused by the runtime), so a waiter only reads the outcome left for it.
  private async wait(w: Waiter<R>, terms: LeaseTerms<R>): Promise<Admission<R>> {
    this.waiters.push(w);
    while (w.outcome === null && w.error === undefined) {
      // In this request's waitUntil: the exchanges may go on for later waiters after this
      // request has its answer, and they need a live request context.
      if (!this.busy) terms.waitUntil(this.run(false, terms));
      await this.round;
    }
    if (w.error !== undefined) throw w.error;
    return w.outcome as Admission<R>;
  }

  // Reconciles one admitted request: `back` goes back into the slice (negative: taken), `spent`
  // is reported to the object. A request admitted in an earlier epoch gives nothing back: its
  // slice was closed (and booked) with that epoch.
  settle(back: Amounts, spent: number, epoch: string, terms: LeaseTerms<R>): void {
    this.terms = terms;
    if (epoch === this.epoch) for (let i = 0; i < this.dims; i++) this.balance[i]! += back[i]!;
    else this.balance[0]! -= spent;
    this.unreported += spent;
    if (this.unreported !== 0 || !this.current() || this.balance.some((b) => b < 0)) this.arm(terms);
  }

  private current(): boolean {
    return Date.now() < this.expiresAt && (this.terms.epoch ?? "") === this.epoch;
  }

  private covers(need: Amounts): boolean {
    return need.every((n, i) => this.terms.chunk[i] === null || this.balance[i]! >= n);
  }

  private debit(need: Amounts): void {
    for (let i = 0; i < this.dims; i++) if (this.terms.chunk[i] !== null) this.balance[i]! -= need[i]!;
  }

  private low(): boolean {
    return this.terms.chunk.some((c, i) => c !== null && this.balance[i]! < c / 2);
  }

  // When the next report or hand-back is due (Infinity: nothing to do).
  private dueAt(): number {
    const flushAt = this.unreported !== 0 || this.balance.some((b) => b < 0) ? this.lastFlush + this.flushMs : Infinity;
    const returnAt = this.balance.some((b) => b !== 0) ? this.expiresAt : Infinity;
    return Math.min(flushAt, returnAt);
  }

  // One timer per holder, in the waitUntil of the request that armed it (so the runtime keeps
  // it): reports spend no sooner than flushMs after the last exchange, and hands the slice back
  // once it expires. Each timer sleeps once and re-arms, so none outlives a request's
  // waitUntil allowance; one that never fired (its request's context went away) is replaced.
  private arm(by: LeaseTerms<R>): void {
    const at = this.dueAt();
    if (at === Infinity) return;
    if (this.timer !== null && this.timer <= at && Date.now() < this.timer + 1_000) return;
    this.timer = at;
    const armed = at;
    by.waitUntil(
      (async () => {
        try {
          await sleep(Math.max(0, at - Date.now()) + 1);
          if (!this.busy && Date.now() >= this.dueAt()) await this.run(true, by);
        } finally {
          if (this.timer === armed) this.timer = null;
        }
        if (!this.busy) this.arm(by);
      })(),
    );
  }

  // Exchanges with the object until no request is waiting. `flush`: only report and hand back.
  // `by`: the request whose context runs the exchanges (its waitUntil keeps them alive).
  private async run(flush: boolean, by: LeaseTerms<R>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let round = 0; ; round++) {
        const waiting = this.waiters.splice(0);
        if (round > 0 && waiting.length === 0) break;
        let roundDone!: () => void;
        this.round = new Promise((resolve) => (roundDone = resolve));
        const terms = this.terms;
        const epoch = terms.epoch ?? "";
        // The slice goes back whole when it expired, and when it cannot cover a waiting request
        // (the object then decides on all of it: a request is refused only when the object
        // and this slice together could not cover it). Otherwise only its debt (calls that
        // used more than they reserved) is settled.
        const closing = !this.current() || waiting.length > 0;
        const give = this.balance.map((b) => (closing ? b : Math.min(b, 0)));
        const report = this.unreported;
        const want = terms.chunk.map((c, i) => (c === null || (flush && waiting.length === 0) ? 0 : Math.max(c, waiting.reduce((sum, w) => sum + w.need[i]!, 0))));
        const need = waiting.length === 0 ? null : terms.chunk.map((c, i) => (c === null ? 0 : Math.min(...waiting.map((w) => w.need[i]!))));
        for (let i = 0; i < this.dims; i++) this.balance[i]! -= give[i]!;
        this.unreported = 0;
        if (closing) this.epoch = epoch;
        this.lastFlush = Date.now();
        let answer: ExchangeAnswer<R>;
        try {
          answer = await terms.call({ give, report, want, need });
        } catch (err) {
          // Nothing reached the object: keep what was to be sent for the next exchange.
          for (let i = 0; i < this.dims; i++) this.balance[i]! += give[i]!;
          this.unreported += report;
          for (const w of waiting) w.error = err ?? new Error("lease exchange failed");
          roundDone();
          continue;
        }
        if (answer.ok) {
          for (let i = 0; i < this.dims; i++) this.balance[i]! += answer.granted[i]!;
          if (need !== null || answer.granted.some((g) => g > 0)) this.expiresAt = Date.now() + this.ttlMs;
        }
        const left: Waiter<R>[] = [];
        for (const w of waiting) {
          if (answer.ok && this.current() && this.covers(w.need)) {
            this.debit(w.need);
            w.outcome = { ok: true, epoch: this.epoch };
          } else if (!answer.ok) w.outcome = { ok: false, refusal: answer.refusal };
          else left.push(w);
        }
        // The grant covered the smallest waiting request, so each round admits one at least.
        this.waiters.unshift(...left);
        roundDone();
      }
    } finally {
      this.busy = false;
    }
    if (this.unreported !== 0 || this.balance.some((b) => b !== 0)) this.arm(by);
  }
}
