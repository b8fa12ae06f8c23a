// API key material. A key is `sk-edgeclaw-` + 32 random bytes (base64url); D1 keeps only its
// SHA-256 (hex) and a short display prefix. Runs in workerd and in Node (scripts/start.ts seeds
// the demo key with the same functions), so it uses Web Crypto only.
export const API_KEY_PREFIX = "sk-edgeclaw-";

export function generateApiKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return API_KEY_PREFIX + base64url(bytes);
}

export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return toHex(new Uint8Array(digest));
}

// Enough to tell keys apart in a listing, never enough to matter: at most 16 characters and
// at most half of the key (a generated key shows `sk-edgeclaw-` + 4 of its 43 random characters).
export function displayPrefix(key: string): string {
  return key.slice(0, Math.min(16, Math.floor(key.length / 2)));
}

function base64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
