// Which region this Worker serves and which regions exist (issue "per-region deploys", docs/deploy.md).
// The vars come from the generated wrangler.jsonc: a regional env sets REGION, REGIONS,
// DO_JURISDICTION and DO_LOCATION_HINT; the global entry sets GATEWAY_ROLE=entry and REGIONS; the
// default env (npm start, tests) sets none of them and behaves as one region with today's formats.

import { regionName } from "../../schema/admin.ts";

export const JURISDICTIONS = ["eu", "fedramp", "fedramp-high", "us"] as const satisfies readonly DurableObjectJurisdiction[];
export const LOCATION_HINTS = [
  "wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me",
] as const satisfies readonly DurableObjectLocationHint[];

export interface RegionVars {
  REGION?: string;
  REGIONS?: string;
  DO_JURISDICTION?: string;
  DO_LOCATION_HINT?: string;
  GATEWAY_ROLE?: string;
}

export interface RegionSettings {
  // This Worker's region; null on the global entry and in a single-region deployment.
  self: string | null;
  // The global entry stores nothing: it only forwards.
  entry: boolean;
  regions: readonly string[];
  jurisdiction: DurableObjectJurisdiction | null;
  locationHint: DurableObjectLocationHint | null;
}

const cache = new WeakMap<object, RegionSettings>();

// Parsed once per env object (vars never change within an isolate). A malformed value is a
// deployment mistake: it throws, so the Worker fails loudly instead of serving from the wrong place.
export function regionSettings(bindings: object): RegionSettings {
  const cached = cache.get(bindings);
  if (cached) return cached;
  const env = bindings as RegionVars;
  const self = env.REGION?.trim() || null;
  if (self !== null && !regionName.safeParse(self).success) throw new Error(`REGION '${self}' is not a region name`);
  const regions = (env.REGIONS ?? "").split(",").map((r) => r.trim()).filter((r) => r !== "");
  for (const r of regions) if (!regionName.safeParse(r).success) throw new Error(`REGIONS names '${r}', which is not a region name`);
  if (self !== null && !regions.includes(self)) regions.push(self);
  const jurisdiction = env.DO_JURISDICTION?.trim() || null;
  if (jurisdiction !== null && !(JURISDICTIONS as readonly string[]).includes(jurisdiction)) {
    throw new Error(`DO_JURISDICTION '${jurisdiction}' is not one of ${JURISDICTIONS.join(", ")}`);
  }
  const hint = env.DO_LOCATION_HINT?.trim() || null;
  if (hint !== null && !(LOCATION_HINTS as readonly string[]).includes(hint)) {
    throw new Error(`DO_LOCATION_HINT '${hint}' is not one of ${LOCATION_HINTS.join(", ")}`);
  }
  const settings: RegionSettings = {
    self,
    entry: env.GATEWAY_ROLE === "entry",
    regions,
    jurisdiction: jurisdiction as DurableObjectJurisdiction | null,
    locationHint: hint as DurableObjectLocationHint | null,
  };
  cache.set(bindings, settings);
  return settings;
}
