// What the session Durable Object (./session.ts) stores and answers, apart from its behaviour:
// the SQLite schema, the row shapes, the RPC result types, the constants of its lifecycle and
// the view of the object that the logic it calls (in workers/) works on.
import type { AgentConfig } from "../workers/agents/config.ts";
import type { HistoryEntry } from "../workers/agents/turn.ts";
import type { AccountConfig } from "../workers/channels/types.ts";
import type { Env } from "../workers/env.ts";

export interface SessionBinding {
  key: string;
  agent: AgentConfig;
  account: AccountConfig;
  // bindingVersion(agent, account), when the caller has it already (the Worker encodes each
  // cached config once per isolate, workers/channels/inbound.ts): the object compares it with the
  // one it stored instead of encoding the config again on every message.
  version?: string;
}

// What identifies one agent + account config: their JSON (not a hash, so two configs never
// share one). Stored in meta beside them; the config is rewritten only when this changes.
export function bindingVersion(agent: AgentConfig, account: AccountConfig): string {
  return `${JSON.stringify(agent)}\n${JSON.stringify(account)}`;
}

// The session object as the modules it calls see it (workers/agents/session-turn.ts,
// workers/agents/tenant-halt.ts, workers/channels/outbox.ts, session-ingress.ts,
// webchat-socket.ts): its storage, its latest binding, and its generation, which erase and
// expiry bump so that work started before them does not write afterwards.
export interface SessionHost {
  readonly env: Env;
  readonly ctx: DurableObjectState;
  readonly sql: SqlStorage;
  // This instance of the object (random per construction): an outbox attempt marked with
  // another instance's id was cut by a crash or an eviction before its outcome was stored.
  readonly life: string;
  generation(): number;
  meta<T>(k: string): T | null;
  setMeta(k: string, v: unknown): void;
  binding(): SessionBinding | null;
  history(): HistoryEntry[];
  wake(at: number): Promise<void>;
}

export interface AcceptResult {
  status: "accepted" | "duplicate" | "refused";
  // 0 when refused.
  seq: number;
  // When refused: why, and when one more message could be accepted.
  code?: "session_rate_limited" | "inbox_full" | "too_many_new_sessions";
  message?: string;
  retryAfterMs?: number;
}

export interface RunStatus {
  // refused: never answered because the tenant was revoked (or is unknown) by its turn.
  state: "queued" | "done" | "ignored" | "refused";
  reply: string | null;
  received_at: number;
  done_at: number | null;
}

// A crashed turn is picked up again this long after it started.
export const LEASE_MS = 60_000;
// Answered messages are remembered this long for dedupe (platforms retry for hours, not days).
export const DEDUPE_WINDOW_MS = 7 * 86_400_000;
// Dead letters outlive the session's expiry until an admin retries or drops them, or this passes.
const DEFAULT_DEAD_LETTER_RETENTION_S = 30 * 86_400;
// What a refused "inbox full" asks the sender to wait: about one turn.
export const INBOX_FULL_RETRY_MS = 10_000;
export const REVOKED_SEND_ERROR = "tenant revoked: not sent";

export function deadLetterRetentionMs(env: Env): number {
  const n = Number(env.DEAD_LETTER_RETENTION_S);
  return (Number.isFinite(n) && n > 0 ? n : DEFAULT_DEAD_LETTER_RETENTION_S) * 1000;
}

export type Row = Record<string, SqlStorageValue>;

export function refused(code: NonNullable<AcceptResult["code"]>, message: string, retryAfterMs: number): AcceptResult {
  return { status: "refused", seq: 0, code, message, retryAfterMs };
}

export interface InboxRow {
  seq: number;
  msg_id: string;
  message: string;
  attempts: number;
}

export interface OutboxRow {
  id: number;
  intent: string;
  attempts: number;
  next_at: number;
  // The instance whose attempt is in flight; null when no attempt is (its outcome was stored).
  sending: string | null;
}

// Version 1 is SCHEMA; each later version is one step of DDL (applied in order, in one
// transaction with the version's record), so an object built at any version comes up to date.
// The version lives in meta, read once per start instead of running every CREATE again.
const SCHEMA_STEPS: readonly string[] = [
  // 2: the in-flight marker of outbox attempts (issue 18: in-doubt sends).
  "ALTER TABLE outbox ADD COLUMN sending TEXT",
];
export const SCHEMA_VERSION = 1 + SCHEMA_STEPS.length;
export const SCHEMA_VERSION_KEY = "schema_version";

// Returns true when the object was brand new (no tables yet): it has no alarm either.
export function ensureSchema(storage: DurableObjectStorage): boolean {
  const sql = storage.sql;
  let version = 0;
  try {
    const row = sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = ?", SCHEMA_VERSION_KEY).toArray()[0];
    // No row: built before versions were recorded (its tables are version 1) or brand new.
    version = row ? Number(JSON.parse(row.v)) : 1;
  } catch {
    // No meta table: a brand-new (or wiped) object.
    version = 0;
  }
  if (version >= SCHEMA_VERSION) return false;
  storage.transactionSync(() => {
    if (version === 0) {
      // A brand-new object gets the current tables in one go (its first message waits on this).
      sql.exec(CURRENT_SCHEMA);
    } else {
      sql.exec(SCHEMA);
      for (let v = version; v < SCHEMA_VERSION; v++) sql.exec(SCHEMA_STEPS[v - 1] as string);
    }
    sql.exec("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v", SCHEMA_VERSION_KEY, JSON.stringify(SCHEMA_VERSION));
  });
  return version === 0;
}

// Several meta rows in one statement; values already encoded (JSON text).
export function writeMetaRows(sql: SqlStorage, rows: [string, string][]): void {
  if (rows.length === 0) return;
  sql.exec(`INSERT INTO meta (k, v) VALUES ${rows.map(() => "(?, ?)").join(", ")} ON CONFLICT (k) DO UPDATE SET v = excluded.v`, ...rows.flat());
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT NOT NULL UNIQUE, message TEXT NOT NULL,
  state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,
  received_at INTEGER NOT NULL, reply TEXT, done_at INTEGER);
CREATE INDEX IF NOT EXISTS inbox_state_idx ON inbox (state, seq);
CREATE TABLE IF NOT EXISTS history (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, role TEXT NOT NULL, content TEXT NOT NULL,
  tokens INTEGER NOT NULL, summary INTEGER NOT NULL DEFAULT 0, at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, intent_key TEXT NOT NULL UNIQUE, in_reply_to TEXT NOT NULL,
  intent TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  next_at INTEGER NOT NULL, last_error TEXT, receipt TEXT, created_at INTEGER NOT NULL, sent_at INTEGER);
CREATE INDEX IF NOT EXISTS outbox_state_idx ON outbox (state, id);
CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, body TEXT NOT NULL);
`;

// SCHEMA with every step applied: what a new object is made with, instead of version 1 and then
// an ALTER TABLE per step. Keep it equal to SCHEMA + SCHEMA_STEPS (test/channels/in-doubt.test.ts
// compares the two).
export const CURRENT_SCHEMA = SCHEMA.replace("sent_at INTEGER);", "sent_at INTEGER, sending TEXT);");
