// The vault's master keys, from the VAULT_KEYS Worker secret:
//   {"current":"k2","keys":{"k1":"<base64 of 32 bytes>","k2":"<base64 of 32 bytes>"}}
// `current` seals every new value; the other keys only open rows that rotation has not re-sealed
// yet. Parsed strictly (schema/vault.ts) and imported into WebCrypto once per isolate: the import
// is cached against the secret's exact text, so a deployment with new keys re-imports.
// A missing or invalid secret makes every vault operation answer 503 vault_unavailable; the
// reason is logged by field only, never with the secret's text.
import { vaultKeysSecret } from "../../schema/vault.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";

export interface KeyRing {
  currentId: string;
  current: CryptoKey;
  keys: ReadonlyMap<string, CryptoKey>;
}

let cached: { raw: string; ring: Promise<KeyRing> } | undefined;

export function vaultUnavailable(): ApiError {
  return new ApiError(503, "vault_unavailable", "The vault is not configured on this deployment (the VAULT_KEYS secret is missing or invalid).");
}

export function keyRing(env: Env): Promise<KeyRing> {
  const raw = env.VAULT_KEYS;
  if (typeof raw !== "string" || raw.length === 0) return Promise.reject(vaultUnavailable());
  if (cached?.raw === raw) return cached.ring;
  const ring = importRing(raw);
  // The same text always fails the same way, so a failed import is cached too (logged once).
  ring.catch(() => undefined);
  cached = { raw, ring };
  return ring;
}

async function importRing(raw: string): Promise<KeyRing> {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    warn("VAULT_KEYS is not JSON");
    throw vaultUnavailable();
  }
  const parsed = vaultKeysSecret.safeParse(json);
  if (!parsed.success) {
    warn(`VAULT_KEYS is invalid at ${parsed.error.issues.map((i) => i.path.join(".") || "(root)").join(", ")}`);
    throw vaultUnavailable();
  }
  const keys = new Map<string, CryptoKey>();
  for (const [id, encoded] of Object.entries(parsed.data.keys)) {
    const bytes = decodeBase64(encoded);
    if (bytes?.length !== 32) {
      warn(`VAULT_KEYS key ${id} is not 32 bytes of base64`);
      throw vaultUnavailable();
    }
    keys.set(id, await crypto.subtle.importKey("raw", bytes, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]));
  }
  return { currentId: parsed.data.current, current: keys.get(parsed.data.current) as CryptoKey, keys };
}

// Standard or URL-safe base64, padded or not; undefined if it does not decode.
function decodeBase64(text: string): Uint8Array | undefined {
  try {
    const std = text.replace(/-/g, "+").replace(/_/g, "/").replace(/(^|[^=])=+$/, "$1");
    const bin = atob(std + "=".repeat((4 - (std.length % 4)) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function warn(msg: string): void {
  console.error(JSON.stringify({ level: "error", msg: `vault: ${msg}` }));
}
