import { toHex } from "../auth/encoding.ts";
import { regionSettings } from "../regions/settings.ts";

// Ids for admin-created rows: a type prefix (readable in logs and audit targets) and 96 random bits.
// In a regional deployment the region comes between them (`chn_eu_<hex>`): webhook URLs, hook
// tokens and tenant-scoped admin tokens name these ids, and the global entry reads the region
// from them to forward the request home (workers/regions/request-region.ts).
export function newId(prefix: string, env: object): string {
  const region = regionSettings(env).self;
  const random = toHex(crypto.getRandomValues(new Uint8Array(12)));
  return region === null ? `${prefix}_${random}` : `${prefix}_${region}_${random}`;
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
