// The Analytics Engine binding in the generated wrangler.jsonc, read back with Wrangler's own
// reader: the default env and every region write usage data points to the edgeclaw_usage dataset
// as USAGE_ANALYTICS (one dataset; each point names its region); the global entry, which meters
// nothing, has none. The rollup and data-plane audit retention vars travel to every region with the
// other vars.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { USAGE_DATASET } from "../../scripts/config/base.ts";
import { loadRegions } from "../../scripts/config/regions.ts";

const root = join(import.meta.dirname, "..", "..");
const regions = loadRegions(join(root, "deploy", "regions.json"));
const read = (env?: string) => unstable_readConfig({ config: join(root, "wrangler.jsonc"), env }, { hideWarnings: true });

describe("the usage Analytics Engine dataset", () => {
  it("the default env binds USAGE_ANALYTICS to edgeclaw_usage and sets the rollup retention", () => {
    const base = read();
    expect(USAGE_DATASET).toBe("edgeclaw_usage");
    expect(base.analytics_engine_datasets).toEqual([{ binding: "USAGE_ANALYTICS", dataset: "edgeclaw_usage" }]);
    expect(base.vars).toMatchObject({ USAGE_ROLLUP_MINUTE_HOURS: "48", USAGE_ROLLUP_HOUR_DAYS: "90", AUDIT_DATA_RETENTION_DAYS: "90" });
  });

  for (const region of regions) {
    it(`env.${region.name} binds the same dataset and the same retention`, () => {
      const env = read(region.name);
      expect(env.analytics_engine_datasets).toEqual([{ binding: "USAGE_ANALYTICS", dataset: "edgeclaw_usage" }]);
      expect(env.vars).toMatchObject({ USAGE_ROLLUP_MINUTE_HOURS: "48", USAGE_ROLLUP_HOUR_DAYS: "90", AUDIT_DATA_RETENTION_DAYS: "90" });
    });
  }

  it("the global entry has no dataset", () => {
    expect(read("global").analytics_engine_datasets ?? []).toEqual([]);
  });
});
