// The ledger's hand-on (workers/channels/ledger-forward.ts) on its own, with a host whose storage
// and sessions the test controls: a hand-on whose session fails and whose retry alarm cannot be
// set either still settles, so an erase waiting on it (account-ledger.ts forgetSession) does not
// fail with it.
import { describe, expect, it } from "vitest";
import type { AcceptResult } from "../../durable-objects/session-store.ts";
import { LedgerForwarder, type PendingRow } from "../../workers/channels/ledger-forward.ts";

describe("the ledger's hand-on", () => {
  it("settles when the session fails and the retry alarm cannot be set", async () => {
    const row = { seq: 1, binding: { key: "t/a/telegram/acc/dm:1" }, message: { messageId: "1", accountId: "acc" } } as unknown as PendingRow;
    let called!: () => void;
    const accepting = new Promise<void>((r) => (called = r));
    let fail!: (err: Error) => void;
    let retries = 0;
    const forwarder = new LedgerForwarder({
      next: () => row,
      settle: () => {
        throw new Error("a failed session must not be settled");
      },
      accept: () => {
        called();
        return new Promise<AcceptResult>((_, reject) => (fail = reject));
      },
      retryLater: async () => {
        retries++;
        throw new Error("storage unavailable");
      },
    });
    forwarder.kick(row.binding.key);
    await accepting;
    expect(forwarder.busy(row.binding.key)).toBe(true);
    const settled = forwarder.settled(row.binding.key);
    fail(new Error("session overloaded"));
    await expect(settled).resolves.toBeUndefined();
    await forwarder.idle();
    expect(forwarder.busy(row.binding.key)).toBe(false);
    // The hand-on asked for the alarm, and asked once more after that failed.
    expect(retries).toBe(2);
  });
});
