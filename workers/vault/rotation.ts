// Key rotation: re-seal rows that are not under VAULT_KEYS' current key, one bounded batch per
// admin call (POST /admin/secrets/rotate), so no call runs long and rotation can proceed while
// traffic reads the same rows. Reads never depend on rotation: a row opens with whichever key
// sealed it as long as that key is still in VAULT_KEYS, and a row's plaintext does not change,
// so cached values stay right.
// Each re-seal is a compare-and-swap on the row's nonce (a fresh random one per seal): a value
// replaced through the admin API after this batch read it is never overwritten with the old value.
import { and, asc, count, eq, inArray, ne } from "drizzle-orm";
import { vaultSecrets } from "../../schema/vault.ts";
import type { Database } from "../db.ts";
import type { auditInsert } from "../admin/audit.ts";
import type { Env } from "../env.ts";
import { seal } from "./cipher.ts";
import { keyRing } from "./keyring.ts";
import { openRow } from "./store.ts";

type AnyStatement = ReturnType<typeof auditInsert>;

export interface RotationBatch {
  current_key_id: string;
  rotated: number;
  // Rows of this batch that did not open (altered): named, never their values. They stay as
  // they are; fix or delete them, or the next batches keep meeting them.
  failed: { tenant_id: string; name: string }[];
  // Rows still not under the current key whose key is in VAULT_KEYS (what further batches do).
  remaining: number;
  // Rows under a key that is no longer in VAULT_KEYS: unreadable until it is put back.
  orphaned: number;
}

// `audit` builds the audit row for the batch (given how many rows it re-seals); it is written in
// the same D1 batch as the re-seals, so none is durable without its record.
export async function rotateBatch(env: Env, db: Database, batchSize: number, audit: (attempted: number, currentKeyId: string) => AnyStatement, now = Date.now()): Promise<RotationBatch> {
  const ring = await keyRing(env);
  const older = [...ring.keys.keys()].filter((id) => id !== ring.currentId);
  const rows = older.length === 0 ? [] : await db.select().from(vaultSecrets).where(inArray(vaultSecrets.keyId, older)).orderBy(asc(vaultSecrets.tenantId), asc(vaultSecrets.name)).limit(batchSize);
  const updates = [];
  const failed: RotationBatch["failed"] = [];
  for (const row of rows) {
    const read = await openRow(ring.keys, row);
    if (read.status !== "ok") {
      failed.push({ tenant_id: row.tenantId, name: row.name });
      continue;
    }
    const sealed = await seal(ring.current, row.tenantId, row.name, read.value);
    updates.push(
      db
        .update(vaultSecrets)
        .set({ keyId: ring.currentId, ...sealed, rotatedAt: now })
        .where(and(eq(vaultSecrets.tenantId, row.tenantId), eq(vaultSecrets.name, row.name), eq(vaultSecrets.iv, row.iv))),
    );
  }
  let rotated = 0;
  if (updates.length > 0) {
    const results = await db.batch([audit(updates.length, ring.currentId), ...updates]);
    for (const r of results.slice(1)) rotated += (r as D1Result).meta.changes ?? 0;
  }
  const pending = await db
    .select({ keyId: vaultSecrets.keyId, n: count() })
    .from(vaultSecrets)
    .where(ne(vaultSecrets.keyId, ring.currentId))
    .groupBy(vaultSecrets.keyId);
  let remaining = 0;
  let orphaned = 0;
  for (const p of pending) {
    if (ring.keys.has(p.keyId)) remaining += p.n;
    else orphaned += p.n;
  }
  return { current_key_id: ring.currentId, rotated, failed, remaining, orphaned };
}
