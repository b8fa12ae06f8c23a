// API key material. A key is `sk-edgeclaw-` + 32 random bytes (base64url); D1 keeps only its
// SHA-256 (hex) and a short display prefix. Runs in workerd and in Node (scripts/start.ts seeds
// the demo key with the same functions), so it uses Web Crypto only.
import { base64url, sha256Hex } from "./encoding.ts";

export const API_KEY_PREFIX = "sk-edgeclaw-";

export function generateApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return API_KEY_PREFIX + base64url(bytes);
}

export async function hashApiKey(key: string): Promise<string> {
  return sha256Hex(key);
}

// Enough to tell keys apart in a listing, never enough to matter: at most 16 characters and
// at most half of the key (a generated key shows `sk-edgeclaw-` + 4 of its 43 random characters).
export function displayPrefix(key: string): string {
  return key.slice(0, Math.min(16, Math.floor(key.length / 2)));
}
