// ResponseStore: one Durable Object per tenant (named tenant:<id>), the stored responses of
// POST /v1/responses (store: true), so GET /v1/responses/:id and previous_response_id find them.
// A record is its JSON text (the Response object and the input items it answered), split into
// parts because a SQLite row holds at most 2 MB. Everything is bounded by the caller's limits
// (workers/api/responses/store.ts): per-tenant bytes and count (oldest evicted first), an expiry
// (purged by the alarm, and never served once past), and how far a chain is walked. Every method
// is one synchronous run of SQL statements, committed together; the reply waits for the write
// to be durable (output gate), so a follow-up request always finds what was stored.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../workers/env.ts";

export interface StoreLimits {
  maxBytes: number;
  maxCount: number;
}

export interface StoredRecord {
  id: string;
  prev: string | null;
  createdAt: number;
  expiresAt: number;
  json: string;
}

// The chain ending at a response, oldest first; `complete` is false when the walk stopped at a
// limit (links or bytes) or at a link that is gone (deleted, evicted or expired).
export type Chain = { found: false } | { found: true; records: string[]; complete: boolean; limited: boolean };

// Characters per stored part: a UTF-16 string of at most 512 Ki characters is at most 1.5 MB of
// UTF-8, under SQLite's 2 MB row limit.
const PART_CHARS = 512 * 1024;
// Rows purged per alarm run; more re-arms the alarm at once.
const PURGE_BATCH = 500;

export class ResponseStore extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(`CREATE TABLE IF NOT EXISTS responses (
      id TEXT PRIMARY KEY, prev TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
      bytes INTEGER NOT NULL, parts INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS responses_created_idx ON responses (created_at)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS responses_expires_idx ON responses (expires_at)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS parts (id TEXT NOT NULL, n INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (id, n))");
    this.sql.exec("CREATE TABLE IF NOT EXISTS totals (k INTEGER PRIMARY KEY CHECK (k = 0), bytes INTEGER NOT NULL, count INTEGER NOT NULL)");
    this.sql.exec("INSERT OR IGNORE INTO totals (k, bytes, count) VALUES (0, 0, 0)");
  }

  async put(record: StoredRecord, limits: StoreLimits): Promise<void> {
    this.drop(record.id);
    const parts = Math.max(1, Math.ceil(record.json.length / PART_CHARS));
    for (let n = 0; n < parts; n++) {
      this.sql.exec("INSERT INTO parts (id, n, data) VALUES (?, ?, ?)", record.id, n, record.json.slice(n * PART_CHARS, (n + 1) * PART_CHARS));
    }
    this.sql.exec(
      "INSERT INTO responses (id, prev, created_at, expires_at, bytes, parts) VALUES (?, ?, ?, ?, ?, ?)",
      record.id,
      record.prev,
      record.createdAt,
      record.expiresAt,
      record.json.length,
      parts,
    );
    this.sql.exec("UPDATE totals SET bytes = bytes + ?, count = count + 1 WHERE k = 0", record.json.length);
    // Over the tenant's limits: the oldest go first (never the one just written).
    for (;;) {
      const totals = this.totals();
      if (totals.bytes <= limits.maxBytes && totals.count <= limits.maxCount) break;
      const oldest = this.sql
        .exec<{ id: string }>("SELECT id FROM responses WHERE id != ? ORDER BY created_at, id LIMIT 1", record.id)
        .toArray()[0];
      if (!oldest) break;
      this.drop(oldest.id);
    }
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > record.expiresAt) await this.ctx.storage.setAlarm(record.expiresAt);
  }

  async get(id: string): Promise<string | null> {
    const row = this.row(id);
    return row ? this.read(id, row.parts) : null;
  }

  async remove(id: string): Promise<boolean> {
    if (!this.row(id)) return false;
    this.drop(id);
    return true;
  }

  // From `id` back along prev links, at most maxLinks records and maxBytes characters.
  async chain(id: string, maxLinks: number, maxBytes: number): Promise<Chain> {
    const records: string[] = [];
    let bytes = 0;
    let at: string | null = id;
    while (at !== null) {
      const row = this.row(at);
      if (!row) {
        if (records.length === 0) return { found: false };
        return { found: true, records: records.reverse(), complete: false, limited: false };
      }
      if (records.length >= maxLinks || bytes + row.bytes > maxBytes) {
        return { found: true, records: records.reverse(), complete: false, limited: true };
      }
      records.push(this.read(at, row.parts));
      bytes += row.bytes;
      at = row.prev;
    }
    return { found: true, records: records.reverse(), complete: true, limited: false };
  }

  async usage(): Promise<{ bytes: number; count: number }> {
    return this.totals();
  }

  // Purges what has expired, in batches; re-arms at the next expiry.
  async alarm(): Promise<void> {
    const now = Date.now();
    const due = this.sql
      .exec<{ id: string }>("SELECT id FROM responses WHERE expires_at <= ? ORDER BY expires_at LIMIT ?", now, PURGE_BATCH)
      .toArray();
    for (const { id } of due) this.drop(id);
    if (due.length === PURGE_BATCH) {
      await this.ctx.storage.setAlarm(Date.now());
      return;
    }
    const next = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM responses").toArray()[0]?.at ?? null;
    if (next !== null) await this.ctx.storage.setAlarm(next);
  }

  // A live row: one past its expiry is as good as gone (the alarm may not have run yet).
  private row(id: string): { prev: string | null; bytes: number; parts: number } | undefined {
    return this.sql
      .exec<{ prev: string | null; bytes: number; parts: number }>("SELECT prev, bytes, parts FROM responses WHERE id = ? AND expires_at > ?", id, Date.now())
      .toArray()[0];
  }

  private read(id: string, parts: number): string {
    const rows = this.sql.exec<{ data: string }>("SELECT data FROM parts WHERE id = ? ORDER BY n", id).toArray();
    if (rows.length !== parts) throw new Error(`stored response ${id} has ${rows.length} of ${parts} parts`);
    return rows.map((r) => r.data).join("");
  }

  private drop(id: string): void {
    const row = this.sql.exec<{ bytes: number }>("SELECT bytes FROM responses WHERE id = ?", id).toArray()[0];
    if (!row) return;
    this.sql.exec("DELETE FROM parts WHERE id = ?", id);
    this.sql.exec("DELETE FROM responses WHERE id = ?", id);
    this.sql.exec("UPDATE totals SET bytes = bytes - ?, count = count - 1 WHERE k = 0", row.bytes);
  }

  private totals(): { bytes: number; count: number } {
    const row = this.sql.exec<{ bytes: number; count: number }>("SELECT bytes, count FROM totals WHERE k = 0").one();
    return { bytes: row.bytes, count: row.count };
  }
}
