// vault_secrets rows: sealing a value for its row, reading one back at the point of use, and the
// statements the admin API batches with its audit rows. Values are opened only here and only in
// the row's own tenant (the tenant is part of the additional data, so a row moved elsewhere in D1
// does not open either).
//
// Point-of-use reads are cached in the isolate (bounded, keyed by tenant and name, the entry
// remembers the key id it was sealed under) for CACHE_TTL_MS, then served while one background
// read refreshes them for as long again: the router's hot path waits on D1 only for a secret this
// isolate has not used recently. A write through this isolate drops its entry at once; other
// isolates see a replaced or deleted value within 2 x CACHE_TTL_MS (60 s by default).
import { and, eq } from "drizzle-orm";
import { vaultSecrets, type VaultSecretRow } from "../../schema/vault.ts";
import { TtlCache } from "../cache/ttl-cache.ts";
import { database, type Database } from "../db.ts";
import { settings, type Env } from "../env.ts";
import { open, seal } from "./cipher.ts";
import { keyRing } from "./keyring.ts";

export type SecretRead =
  | { status: "ok"; value: string; keyId: string }
  | { status: "missing" }
  // The row exists but does not open: sealed under a key no longer in VAULT_KEYS, or altered.
  | { status: "unreadable"; keyId: string };

const cache = new TtlCache<SecretRead>(1_000);

const cacheKey = (tenantId: string, name: string) => `${tenantId}\n${name}`;

export function forgetSecret(tenantId: string, name: string): void {
  cache.invalidate(cacheKey(tenantId, name));
}

export function forgetAllSecrets(): void {
  cache.clear();
}

// Throws 503 vault_unavailable when VAULT_KEYS is missing or invalid.
export function readSecret(env: Env, tenantId: string, name: string): Promise<SecretRead> {
  const ttl = settings(env).cacheTtlMs;
  return cache.get(cacheKey(tenantId, name), ttl, () => readFromD1(env, tenantId, name), ttl);
}

async function readFromD1(env: Env, tenantId: string, name: string): Promise<SecretRead> {
  const ring = await keyRing(env);
  const row = await database(env.DB)
    .select()
    .from(vaultSecrets)
    .where(and(eq(vaultSecrets.tenantId, tenantId), eq(vaultSecrets.name, name)))
    .get();
  if (!row) return { status: "missing" };
  return openRow(ring.keys, row);
}

export async function openRow(keys: ReadonlyMap<string, CryptoKey>, row: VaultSecretRow): Promise<SecretRead> {
  const key = keys.get(row.keyId);
  const value = key ? await open(key, row.tenantId, row.name, row) : undefined;
  if (value === undefined) {
    // Names only: which row, under which key. An altered row is worth an operator's attention.
    console.error(JSON.stringify({ level: "error", msg: "vault: secret does not open", tenant: row.tenantId, name: row.name, key_id: row.keyId, key_known: key !== undefined }));
    return { status: "unreadable", keyId: row.keyId };
  }
  return { status: "ok", value, keyId: row.keyId };
}

// The sealed row for a new or replaced value, under the current key.
export async function sealedRow(env: Env, tenantId: string, name: string, value: string, now: number, createdAt = now): Promise<VaultSecretRow> {
  const ring = await keyRing(env);
  const sealed = await seal(ring.current, tenantId, name, value);
  return { tenantId, name, keyId: ring.currentId, ...sealed, createdAt, updatedAt: now, rotatedAt: null };
}

export function findRow(db: Database, tenantId: string, name: string): Promise<VaultSecretRow | undefined> {
  return db.select().from(vaultSecrets).where(and(eq(vaultSecrets.tenantId, tenantId), eq(vaultSecrets.name, name))).get();
}

// Create or replace; the created time of an existing row is kept.
export function upsertStatement(db: Database, row: VaultSecretRow) {
  return db
    .insert(vaultSecrets)
    .values(row)
    .onConflictDoUpdate({
      target: [vaultSecrets.tenantId, vaultSecrets.name],
      set: { keyId: row.keyId, iv: row.iv, ciphertext: row.ciphertext, updatedAt: row.updatedAt, rotatedAt: null },
    });
}

export function deleteStatement(db: Database, tenantId: string, name: string) {
  return db.delete(vaultSecrets).where(and(eq(vaultSecrets.tenantId, tenantId), eq(vaultSecrets.name, name)));
}
