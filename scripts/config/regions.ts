// deploy/regions.json: the one list of regions. Each entry becomes env.<name> in wrangler.jsonc
// (scripts/config/generate.ts) and one `npm run deploy -- --region <name>` (scripts/deploy.ts).
import { readFileSync } from "node:fs";
import { z } from "zod";

// The values wrangler 4.155.0 accepts (`wrangler d1 create --help`) and the Durable Object
// jurisdictions and location hints Cloudflare documents (durable-objects/reference/data-location),
// the same lists the Worker accepts at runtime (workers/regions/settings.ts; a test compares them).
export const d1Jurisdictions = ["eu", "us", "fedramp"] as const;
export const d1Locations = ["weur", "eeur", "apac", "oc", "wnam", "enam"] as const;
export const doJurisdictions = ["eu", "us", "fedramp", "fedramp-high"] as const;
export const doLocationHints = ["wnam", "enam", "sam", "weur", "eeur", "apac", "apac-ne", "apac-se", "oc", "afr", "me"] as const;

// Short, lower-case: it goes into Worker and database names, API key prefixes (sk-ec-<region>-)
// and ids (ten_<region>_…), and REGION_<NAME> service bindings.
export const REGION_NAME = /^[a-z][a-z0-9]{1,7}$/;

// A route or custom domain (Wrangler's `routes` entries): `{"pattern": "eu.gw.example.com",
// "custom_domain": true}` or `{"pattern": "gw.example.com/*", "zone_name": "example.com"}`.
// Without routes a Worker is served on its workers.dev URL only.
const route = z.union([
  z.strictObject({ pattern: z.string().min(1).max(253), custom_domain: z.literal(true) }),
  z.strictObject({ pattern: z.string().min(1).max(1024), zone_name: z.string().min(1).max(253) }),
]);
const routes = z.array(route).max(20).optional();

const region = z.strictObject({
  name: z.string().regex(REGION_NAME, "a region name is 2-8 characters: a lower-case letter, then letters or digits"),
  // A jurisdiction is a guarantee (the database runs and stores only there); a location is a hint.
  d1: z.union([z.strictObject({ jurisdiction: z.enum(d1Jurisdictions) }), z.strictObject({ location: z.enum(d1Locations) })]),
  durableObjects: z.union([
    z.strictObject({ jurisdiction: z.enum(doJurisdictions) }),
    z.strictObject({ locationHint: z.enum(doLocationHints) }),
  ]),
  routes,
  // Workers Analytics Engine (USAGE_ANALYTICS) has no jurisdiction: its data points (tenant, key
  // and agent ids, model and route names, request and trace ids) leave the region. So a region
  // whose D1 or Durable Objects have a jurisdiction gets no binding unless it opts in here; a
  // region with only location hints gets it unless it opts out.
  analytics: z.boolean().optional(),
});

export const regionsFile = z
  .strictObject({
    $comment: z.string().max(4000).optional(),
    regions: z.array(region).min(1).max(32),
    // The global entry Worker (env.global): its routes, typically the one public hostname.
    global: z.strictObject({ routes }).optional(),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    for (const [i, r] of file.regions.entries()) {
      if (seen.has(r.name)) ctx.addIssue({ code: "custom", path: ["regions", i, "name"], message: `region "${r.name}" is listed twice` });
      // "global" names the entry Worker's env (edgeclaw-global).
      if (r.name === "global") ctx.addIssue({ code: "custom", path: ["regions", i, "name"], message: `"global" is the entry Worker, not a region` });
      seen.add(r.name);
    }
  });

export type Region = z.infer<typeof region>;
export type Route = z.infer<typeof route>;
export type RegionsFile = z.infer<typeof regionsFile>;
// The regions, each carrying the file's global settings along (one value to pass around).
export type Regions = Region[] & { globalRoutes?: Route[] };

// Parses and validates; the error names the file and every problem with its path.
export function parseRegions(text: string, source = "deploy/regions.json"): Regions {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  const result = regionsFile.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `  ${i.path.join(".") || "(root)"}: ${i.message}`).join("\n");
    throw new Error(`${source} is invalid:\n${problems}`);
  }
  const regions: Regions = result.data.regions;
  if (result.data.global?.routes) regions.globalRoutes = result.data.global.routes;
  return regions;
}

export function loadRegions(path: string): Regions {
  return parseRegions(readFileSync(path, "utf8"), path);
}

// The service binding name of a region (REGION_EU for "eu").
export function regionBinding(name: string): string {
  return `REGION_${name.toUpperCase()}`;
}

// Whether the region's env binds USAGE_ANALYTICS (see `analytics` above).
export function regionAnalytics(r: Region): boolean {
  return r.analytics ?? !("jurisdiction" in r.d1 || "jurisdiction" in r.durableObjects);
}
