// The tombstone a session erase leaves for the audit consumer (./consumer.ts): data-plane events
// about the subject made before this moment, still waiting in the queue, are written unlinked.
// The erase route (workers/admin/sessions.ts) puts it in the same D1 batch that deletes the
// subject's pseudonym mapping. It is kept for at most TOMBSTONE_KEEP_MS and links to no audit row.
//
// It holds a KEYED digest of the subject (tombstoneDigest), never the plain SHA-256 of tenant and
// subject that the mapping held: subject ids are small spaces (phone numbers, numeric chat ids),
// so someone reading D1 could brute-force a plain digest back to the id and, through the erase's
// own admin row (same time, the old pseudonym), relink the erased person. The consumer computes
// the same keyed digest from the event's wire digest when it checks.
//
// The key: HMAC-SHA256 under a key derived with HKDF-SHA256 from the ADMIN_JWT_SECRET Worker
// secret, label TOMBSTONE_KEY_LABEL (so it is never the JWT key itself). Why that secret: every
// regional Worker has it (the erase is an admin route, which answers 503 without it, so no erase
// can happen where it is missing), tombstone and check are in the same region's Worker, and it is
// not rotated as routine (VAULT_KEYS is: a tombstone written under one vault key would not match
// after a rotation). Whoever holds ADMIN_JWT_SECRET can mint owner tokens anyway, so it guards
// nothing more than it already does. Rotating ADMIN_JWT_SECRET within TOMBSTONE_KEEP_MS of an
// erase makes that erase's tombstone unmatched: an event queued before the erase and delivered
// after the rotation would then be linked to a fresh pseudonym (docs/security.md).
import { auditSubjectErasures } from "../../schema/db.ts";
import { toHex } from "../auth/encoding.ts";
import type { Database } from "../db.ts";
import type { Env } from "../env.ts";

export const TOMBSTONE_KEY_LABEL = "edgeclaw/audit-erasure-tombstone/v1";

let cached: { secret: string; key: Promise<CryptoKey> } | undefined;

function tombstoneKey(secret: string): Promise<CryptoKey> {
  if (cached?.secret === secret) return cached.key;
  const enc = new TextEncoder();
  const key = crypto.subtle
    .importKey("raw", enc.encode(secret), "HKDF", false, ["deriveKey"])
    .then((ikm) =>
      crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: enc.encode(TOMBSTONE_KEY_LABEL) }, ikm, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]),
    );
  cached = { secret, key };
  return key;
}

// The tombstone's digest of a subject's wire digest (hex SHA-256 of tenant and subject); null
// when the Worker has no ADMIN_JWT_SECRET (then no erase can have been made through it).
export async function tombstoneDigest(env: Pick<Env, "ADMIN_JWT_SECRET">, digest: string): Promise<string | null> {
  const secret = env.ADMIN_JWT_SECRET;
  if (typeof secret !== "string" || secret.length === 0) return null;
  const mac = await crypto.subtle.sign("HMAC", await tombstoneKey(secret), new TextEncoder().encode(digest));
  return toHex(new Uint8Array(mac));
}

// `keyed` is tombstoneDigest's answer for the subject.
export function erasureTombstone(db: Database, tenantId: string, keyed: string, at = Date.now()) {
  return db
    .insert(auditSubjectErasures)
    .values({ tenantId, digest: keyed, erasedAt: at })
    .onConflictDoUpdate({ target: [auditSubjectErasures.tenantId, auditSubjectErasures.digest], set: { erasedAt: at } });
}
