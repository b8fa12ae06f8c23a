// The Analytics Engine binding in the generated wrangler.jsonc, read back with Wrangler's own
// reader: the default env and the regions without a jurisdiction write usage data points to the
// edgeclaw_usage dataset as USAGE_ANALYTICS (one dataset; each point names its region); a region
// with a jurisdiction has none unless it opts in (Analytics Engine has no jurisdiction); the
// global entry, which meters nothing, has none. The rollup and data-plane audit retention vars travel to every region with the
// other vars.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { USAGE_DATASET } from "../../scripts/config/base.ts";
import { loadRegions, regionAnalytics, regionsFile } from "../../scripts/config/regions.ts";

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
    const bound = !("jurisdiction" in region.d1 || "jurisdiction" in region.durableObjects);
    it(`env.${region.name} ${bound ? "binds the same dataset" : "binds no dataset (its data has a jurisdiction)"} and has the same retention`, () => {
      const env = read(region.name);
      expect(env.analytics_engine_datasets ?? []).toEqual(bound ? [{ binding: "USAGE_ANALYTICS", dataset: "edgeclaw_usage" }] : []);
      expect(env.vars).toMatchObject({ USAGE_ROLLUP_MINUTE_HOURS: "48", USAGE_ROLLUP_HOUR_DAYS: "90", AUDIT_DATA_RETENTION_DAYS: "90" });
    });
  }

  it("the shipped regions: eu and us (jurisdictions) have no dataset, apac (a location) has it", () => {
    expect(Object.fromEntries(regions.map((r) => [r.name, regionAnalytics(r)]))).toEqual({ eu: false, us: false, apac: true });
  });

  it("a region opts in or out explicitly", () => {
    const file = regionsFile.parse({
      regions: [
        { name: "eu", d1: { jurisdiction: "eu" }, durableObjects: { jurisdiction: "eu" }, analytics: true },
        { name: "apac", d1: { location: "apac" }, durableObjects: { locationHint: "apac" }, analytics: false },
      ],
    });
    expect(file.regions.map(regionAnalytics)).toEqual([true, false]);
  });

  it("the global entry has no dataset", () => {
    expect(read("global").analytics_engine_datasets ?? []).toEqual([]);
  });
});
