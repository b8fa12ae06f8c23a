import { toHex } from "../auth/encoding.ts";

// Ids for admin-created rows: a type prefix (readable in logs and audit targets) and 96 random bits.
export function newId(prefix: string): string {
  return `${prefix}_${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
}

export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
