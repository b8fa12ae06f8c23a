// One JSON-able state value per Durable Object, loaded before the first call is served and
// written back after each change. Calls to one object run one at a time (input gates). By default
// the answer is held until the write is durable (output gates), so a caller never acts on state
// that could be lost: what money (budgets) needs. Soft state (token buckets, breaker windows) is
// saved `unconfirmed`: the answer does not wait for the disk, and a crash loses at most the last
// moments of a bucket that refills within a minute anyway. Shared by the counter objects here;
// not itself a Durable Object.
export class Persisted<S> {
  value!: S;
  private readonly storage: DurableObjectStorage;
  private readonly confirmed: boolean;

  constructor(ctx: DurableObjectState, initial: () => S, options: { confirmed: boolean } = { confirmed: true }) {
    this.storage = ctx.storage;
    this.confirmed = options.confirmed;
    void ctx.blockConcurrencyWhile(async () => {
      this.value = (await this.storage.get<S>("state")) ?? initial();
    });
  }

  save(): void {
    // Not awaited: with confirmation the output gate holds the reply until it is written.
    void this.storage.put("state", this.value, { allowUnconfirmed: !this.confirmed });
  }
}
