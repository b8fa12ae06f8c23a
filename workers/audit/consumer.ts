// The audit half of the usage queue's consumer (workers/usage/consumer.ts dispatches by `kind`):
// the statements that write a delivery's data-plane audit events into audit_log, run in the SAME
// D1 batch (one transaction) as the delivery's usage rows. Each row is INSERT OR IGNORE on the
// event id (audit_log_event_id_uq), so a redelivered batch adds nothing; a failed batch is retried
// whole by the caller.
//
// Subjects: an event names its subject by digest only; here the digest becomes the subject's
// pseudonym in audit_subjects (made on first use, inside the same transaction), and the row's
// target and metadata.subject carry the pseudonym, so GET /admin/audit?subject= finds it and a
// session erase unlinks it, exactly like the admin rows.
//
// An event still in the queue while its subject is erased: the erase records a tombstone
// (audit_subject_erasures, ./erasure.ts) in its own batch. An event made at or before the erase is
// written unlinked (pseudonym "sub_erased"), and never makes a new mapping: without the tombstone
// a late delivery would give the erased person a fresh pseudonym and tie a pre-erase event to them
// again. The tombstone holds a keyed digest (./erasure.ts says why and with which key): the check
// computes it here from the event's wire digest. Events made after the erase get a new pseudonym,
// as any later event does. Tombstones are dropped once no queued event can be that old (TOMBSTONE_KEEP_MS, beyond the queue's longest
// message retention of 14 days).
import { toHex } from "../auth/encoding.ts";
import type { Env } from "../env.ts";
import { tombstoneDigest } from "./erasure.ts";
import type { AuditEvent } from "./event.ts";

export const ERASED_PSEUDONYM = "sub_erased";
export const TOMBSTONE_KEEP_MS = 15 * 86_400_000;

const NEW_SUBJECT =
  "INSERT OR IGNORE INTO audit_subjects (tenant_id, digest, pseudonym, created_at) SELECT ?1, ?2, ?3, ?4 " +
  "WHERE NOT EXISTS (SELECT 1 FROM audit_subject_erasures WHERE tenant_id = ?1 AND digest = ?6 AND erased_at >= ?5)";

// The pseudonym as of the event: the mapping's, unless the subject was erased at or after the
// event was made.
const WITH_SUBJECT =
  "INSERT OR IGNORE INTO audit_log (at, tenant_id, actor, action, target, metadata, event_id) " +
  "SELECT ?1, ?2, ?3, ?4, ?5 || '/' || p.pseudonym || ?6, json_set(?7, '$.subject', p.pseudonym), ?8 FROM (SELECT COALESCE(" +
  "(SELECT s.pseudonym FROM audit_subjects s WHERE s.tenant_id = ?2 AND s.digest = ?9 AND NOT EXISTS " +
  "(SELECT 1 FROM audit_subject_erasures e WHERE e.tenant_id = ?2 AND e.digest = ?11 AND e.erased_at >= ?1)), ?10) AS pseudonym) p";

const WITHOUT_SUBJECT = "INSERT OR IGNORE INTO audit_log (at, tenant_id, actor, action, target, metadata, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)";

const DROP_TOMBSTONES = "DELETE FROM audit_subject_erasures WHERE erased_at < ?";

// Without ADMIN_JWT_SECRET no tombstone can match (NO_TOMBSTONE is no hex digest); no erase can
// be made without it either.
const NO_TOMBSTONE = "-";

export async function auditStatements(env: Pick<Env, "ADMIN_JWT_SECRET">, db: D1Database, events: AuditEvent[], now = Date.now()): Promise<D1PreparedStatement[]> {
  if (events.length === 0) return [];
  const subjects: D1PreparedStatement[] = [];
  const rows: D1PreparedStatement[] = [];
  for (const e of events) {
    const metadata = JSON.stringify(e.metadata);
    if (e.subject === null) {
      rows.push(db.prepare(WITHOUT_SUBJECT).bind(e.at, e.tenant_id, e.actor, e.action, e.target, metadata, e.id));
      continue;
    }
    const candidate = `sub_${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
    const keyed = (await tombstoneDigest(env, e.subject.digest)) ?? NO_TOMBSTONE;
    subjects.push(db.prepare(NEW_SUBJECT).bind(e.tenant_id, e.subject.digest, candidate, now, e.at, keyed));
    rows.push(db.prepare(WITH_SUBJECT).bind(e.at, e.tenant_id, e.actor, e.action, e.target, e.subject.thread, metadata, e.id, e.subject.digest, ERASED_PSEUDONYM, keyed));
  }
  return [...subjects, ...rows, db.prepare(DROP_TOMBSTONES).bind(now - TOMBSTONE_KEEP_MS)];
}
