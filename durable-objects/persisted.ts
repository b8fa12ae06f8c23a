// One JSON-able state value per Durable Object, loaded before the first call is served and
// written back after each change. Calls to one object run one at a time (input gates), and the
// answer is held until the write is durable (output gates), so a caller never acts on state that
// could be lost. Shared by the counter objects here; not itself a Durable Object.
export class Persisted<S> {
  value!: S;
  private readonly storage: DurableObjectStorage;

  constructor(ctx: DurableObjectState, initial: () => S) {
    this.storage = ctx.storage;
    void ctx.blockConcurrencyWhile(async () => {
      this.value = (await this.storage.get<S>("state")) ?? initial();
    });
  }

  save(): void {
    // Not awaited: the output gate holds the reply until it is written.
    void this.storage.put("state", this.value);
  }
}
