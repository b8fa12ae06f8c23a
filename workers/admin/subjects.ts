// Subject pseudonyms for audit rows (GDPR erase vs an append-only log). An audit row never holds
// a raw peer, chat or group id, nor a session key that embeds one: it holds a random pseudonym
// (sub_<hex>) that audit_subjects maps to a digest of the tenant and the subject. Erasing a
// session deletes that mapping row, the only link, so the rows stay (the log is still append-
// only and complete) but no longer say whom they were about. The pseudonym is random rather than
// a keyed hash, so nothing (no key, no digest left behind) can relink it after the erase.
//
// The subject is the person or group a session talks to: "dm:<peer id>" or "group:<group id>"
// within one tenant (across agents, channels and accounts: erasing any session of a person
// unlinks every audit row about them in that tenant, over-unlinking rather than under).
import { and, eq } from "drizzle-orm";
import { auditSubjects } from "../../schema/db.ts";
import { sha256Hex, toHex } from "../auth/encoding.ts";
import type { Database } from "../db.ts";

// What audit_subjects keys a subject by (the erase batch deletes by it).
export function subjectDigest(tenantId: string, subject: string): Promise<string> {
  return sha256Hex(`${tenantId}\n${subject}`);
}

// The subject's pseudonym in this tenant, made on first use. Two concurrent first uses agree:
// the insert that loses the primary-key race is ignored and both read the winner.
export async function subjectPseudonym(db: Database, tenantId: string, subject: string): Promise<string> {
  const digest = await subjectDigest(tenantId, subject);
  const candidate = `sub_${toHex(crypto.getRandomValues(new Uint8Array(12)))}`;
  const [, rows] = await db.batch([
    db.insert(auditSubjects).values({ tenantId, digest, pseudonym: candidate, createdAt: Date.now() }).onConflictDoNothing(),
    db.select({ pseudonym: auditSubjects.pseudonym }).from(auditSubjects).where(and(eq(auditSubjects.tenantId, tenantId), eq(auditSubjects.digest, digest))),
  ]);
  const found = rows[0]?.pseudonym;
  if (!found) throw new Error("audit subject pseudonym missing after insert");
  return found;
}

// The subject's pseudonym if it has one (never makes one): null after an erase.
export async function findPseudonym(db: Database, tenantId: string, subject: string): Promise<string | null> {
  const digest = await subjectDigest(tenantId, subject);
  const row = await db.select({ pseudonym: auditSubjects.pseudonym }).from(auditSubjects).where(and(eq(auditSubjects.tenantId, tenantId), eq(auditSubjects.digest, digest))).get();
  return row?.pseudonym ?? null;
}

// For the erase batch: after it, the subject's pseudonym links to nothing. Synchronous on
// purpose: a drizzle query is a thenable, so an async function returning one would run it.
export function forgetSubjectStatement(db: Database, tenantId: string, digest: string) {
  return db.delete(auditSubjects).where(and(eq(auditSubjects.tenantId, tenantId), eq(auditSubjects.digest, digest)));
}

// A session key is tenant/agent/channel/account/<dm:peer | group:id>[/thread:id]
// (workers/agents/config.ts sessionKeyOf). The first four parts are ids the tenant chose; the
// rest names the subject.
function splitSessionKey(key: string): { head: string; subject: string; thread: string } {
  let cut = -1;
  for (let i = 0; i < 4; i++) {
    cut = key.indexOf("/", cut + 1);
    if (cut < 0) return { head: key, subject: "", thread: "" };
  }
  const rest = key.slice(cut + 1);
  const t = rest.lastIndexOf("/thread:");
  return { head: key.slice(0, cut), subject: t < 0 ? rest : rest.slice(0, t), thread: t < 0 ? "" : rest.slice(t) };
}

export function subjectOfSessionKey(key: string): string {
  return splitSessionKey(key).subject;
}

// The session key as audit rows show it: the subject part replaced by its pseudonym.
export async function pseudonymousSessionKey(db: Database, tenantId: string, key: string): Promise<string> {
  const { head, subject, thread } = splitSessionKey(key);
  return `${head}/${await subjectPseudonym(db, tenantId, subject)}${thread}`;
}

// Binding rows name a peer or a group: audit metadata gets their pseudonyms instead.
export async function pseudonymousBinding<T extends { peer_id?: string | null; group_id?: string | null }>(
  db: Database,
  tenantId: string,
  view: T,
): Promise<Omit<T, "peer_id" | "group_id"> & { peer?: string | null; group?: string | null }> {
  const { peer_id, group_id, ...rest } = view;
  return {
    ...rest,
    ...(peer_id !== undefined ? { peer: peer_id === null ? null : await subjectPseudonym(db, tenantId, `dm:${peer_id}`) } : {}),
    ...(group_id !== undefined ? { group: group_id === null ? null : await subjectPseudonym(db, tenantId, `group:${group_id}`) } : {}),
  };
}
