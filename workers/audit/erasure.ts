// The tombstone a session erase leaves for the audit consumer (./consumer.ts): data-plane events
// about the subject made before this moment, still waiting in the queue, are written unlinked.
// The erase route (workers/admin/sessions.ts) puts it in the same D1 batch that deletes the
// subject's pseudonym mapping. It holds the same digest the mapping held, for at most
// TOMBSTONE_KEEP_MS; it links to no audit row.
import { auditSubjectErasures } from "../../schema/db.ts";
import type { Database } from "../db.ts";

export function erasureTombstone(db: Database, tenantId: string, digest: string, at = Date.now()) {
  return db
    .insert(auditSubjectErasures)
    .values({ tenantId, digest, erasedAt: at })
    .onConflictDoUpdate({ target: [auditSubjectErasures.tenantId, auditSubjectErasures.digest], set: { erasedAt: at } });
}
