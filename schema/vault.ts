// The vault: per-tenant secrets (provider API keys, channel credentials, webhook signing keys)
// stored in D1 encrypted with AES-256-GCM under a master key from the VAULT_KEYS Worker secret
// (workers/vault/). D1 never holds a plaintext value; a row only says which master key sealed it.
import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { z } from "zod";
import { tenants } from "./db.ts";

export const vaultSecrets = sqliteTable(
  "vault_secrets",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    // Id of the VAULT_KEYS master key that sealed this row (rotation re-seals rows not under the
    // current one).
    keyId: text("key_id").notNull(),
    // base64 of the random 96-bit GCM nonce; a fresh one per seal, so it also tells one sealing
    // from the next (rotation's compare-and-swap uses it).
    iv: text("iv").notNull(),
    // base64 of the GCM ciphertext with its 128-bit tag. Additional data: tenant id and name
    // (workers/vault/cipher.ts), so a row copied to another tenant or renamed does not open.
    ciphertext: text("ciphertext").notNull(),
    createdAt: integer("created_at").notNull(),
    // When the value was last set (create or replace).
    updatedAt: integer("updated_at").notNull(),
    // When rotation last re-sealed the value under another master key; null if never.
    rotatedAt: integer("rotated_at"),
  },
  (t) => [
    // One value per name per tenant; the point-of-use lookup and the admin listing.
    primaryKey({ columns: [t.tenantId, t.name] }),
    // Rotation's scan for rows not under the current key.
    index("vault_secrets_key_idx").on(t.keyId),
  ],
);

export type VaultSecretRow = typeof vaultSecrets.$inferSelect;

// Secret names: short, no separators that could be confused with the `vault:` prefix or a path.
export const secretName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "1-64 of A-Z, a-z, 0-9, _, . and -");

// A value is at most 8 KiB of UTF-8 (API keys, PEM keys and HMAC secrets fit easily).
export const MAX_SECRET_BYTES = 8 * 1024;
export const secretValue = z
  .string()
  .min(1)
  .refine((v) => new TextEncoder().encode(v).length <= MAX_SECRET_BYTES, { message: `at most ${MAX_SECRET_BYTES} bytes of UTF-8` });

const tenantRef = z.string().min(1).max(64).optional();

// PUT /admin/secrets/:name
export const putSecretBody = z.strictObject({ tenant_id: tenantRef, value: secretValue });
// POST /admin/secrets
export const createSecretBody = z.strictObject({ tenant_id: tenantRef, name: secretName, value: secretValue });
// POST /admin/secrets/rotate
export const rotateSecretsBody = z.strictObject({ batch_size: z.number().int().min(1).max(500).optional() });
// ?tenant_id= on GET/DELETE of one secret
export const secretQuery = z.strictObject({ tenant_id: tenantRef });

// A reference to a secret of the row's own tenant, as providers, channel accounts and webhook
// jobs may hold instead of a deployment-wide Worker secret name.
export const VAULT_REF_PREFIX = "vault:";

// VAULT_KEYS, a Worker secret holding JSON: {"current":"k2","keys":{"k1":"<base64>","k2":"<base64>"}}.
// Each key is 32 random bytes (AES-256) in base64 or base64url; `current` seals new values, the
// others only open rows not yet rotated.
const keyId = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/);
export const vaultKeysSecret = z
  .strictObject({
    current: keyId,
    keys: z.record(keyId, z.string().regex(/^[A-Za-z0-9+/_-]{43}=?$/, "32 bytes in base64")).refine((k) => Object.keys(k).length <= 16, { message: "at most 16 keys" }),
  })
  .refine((v) => Object.hasOwn(v.keys, v.current), { message: "current names none of the keys", path: ["current"] });
