// The usage queue in the generated wrangler.jsonc, read back with Wrangler's own reader: the
// default env produces to and consumes edgeclaw-usage (dead letters to edgeclaw-usage-dlq), each
// region its own edgeclaw-usage-<region> pair, so usage stays in (and lands in) the region's D1;
// the global entry, which stores nothing, has neither.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { regionQueueName } from "../../scripts/config/generate.ts";
import { loadRegions } from "../../scripts/config/regions.ts";

const root = join(import.meta.dirname, "..", "..");
const regions = loadRegions(join(root, "deploy", "regions.json"));
const read = (env?: string) => unstable_readConfig({ config: join(root, "wrangler.jsonc"), env }, { hideWarnings: true });

describe("the usage queue", () => {
  it("the default env produces to edgeclaw-usage and consumes it with retries and a dead-letter queue", () => {
    const base = read();
    expect(base.queues.producers).toEqual([{ binding: "USAGE_QUEUE", queue: "edgeclaw-usage" }]);
    expect(base.queues.consumers).toEqual([expect.objectContaining({ queue: "edgeclaw-usage", dead_letter_queue: "edgeclaw-usage-dlq" })]);
    const consumer = base.queues.consumers![0]!;
    expect(consumer.max_retries).toBeGreaterThan(0);
    expect(consumer.max_batch_size).toBeLessThanOrEqual(100);
  });

  for (const region of regions) {
    it(`env.${region.name} has its own queue and dead-letter queue, otherwise the default env's settings`, () => {
      const base = read();
      const env = read(region.name);
      expect(env.queues.producers).toEqual([{ binding: "USAGE_QUEUE", queue: `edgeclaw-usage-${region.name}` }]);
      expect(env.queues.consumers).toEqual(
        base.queues.consumers!.map((c: object) => ({ ...c, queue: `edgeclaw-usage-${region.name}`, dead_letter_queue: `edgeclaw-usage-${region.name}-dlq` })),
      );
    });
  }

  it("names every region's queues apart", () => {
    const names = regions.flatMap((r) => [regionQueueName("edgeclaw-usage", r.name), regionQueueName("edgeclaw-usage-dlq", r.name)]);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain("edgeclaw-usage");
  });

  it("the global entry has no queue", () => {
    const g = read("global");
    expect(g.queues.producers ?? []).toEqual([]);
    expect(g.queues.consumers ?? []).toEqual([]);
  });
});
