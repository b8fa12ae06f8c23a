// API key material. A key is `sk-edgeclaw-` + 32 random bytes (base64url), or in a regional
// deployment `sk-ec-<region>-` + the same (the global entry reads the region to forward the call
// home, workers/regions/request-region.ts; the prefix is part of what is hashed, so a key whose
// region was edited matches nothing anywhere). D1 keeps only its
// SHA-256 (hex) and a short display prefix. Runs in workerd and in Node (scripts/start.ts seeds
// the demo key with the same functions), so it uses Web Crypto only.
import { base64url, sha256Hex } from "./encoding.ts";

export const API_KEY_PREFIX = "sk-edgeclaw-";

export function generateApiKey(region: string | null = null): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return (region === null ? API_KEY_PREFIX : regionalKeyPrefix(region)) + base64url(bytes);
}

export function regionalKeyPrefix(region: string): string {
  return `sk-ec-${region}-`;
}

export async function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

// Enough to tell keys apart in a listing, never enough to matter: at most 16 characters and
// at most half of the key (a generated key shows `sk-edgeclaw-` + 4 of its 43 random characters, a regional one
// `sk-ec-eu-` + 7).
export function displayPrefix(key: string): string {
  return key.slice(0, Math.min(16, Math.floor(key.length / 2)));
}
