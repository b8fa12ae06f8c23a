// Reads a local `wrangler dev --persist-to` state directory the way an auditor would, without the
// Worker: every SQLite file under it (local D1 under v3/d1/, each Durable Object's storage under
// v3/do/<script>-<class>/) and every other file (cache, blobs). Residency tests ask two things:
//   - does a value occur in any table row (all tables, every column, text and blobs), so that
//     "present in its own region" cannot pass because the value was stored in some other form;
//   - does a value occur anywhere at all: the rows, and also the raw bytes of every file (the
//     database, its -wal journal, free pages that still hold deleted rows, non-SQLite files), so
//     that "absent from the other region" does not pass just because a row was deleted or sits
//     in a journal not yet checkpointed. Raw bytes alone would not do: SQLite splits long values
//     over overflow pages, so a value can be stored without its bytes being contiguous; rows
//     are read through SQLite, which joins them again.
// Blobs and raw bytes are searched as Latin-1 (UTF-8 text and V8-serialized one-byte strings, what
// the Durable Object key-value API stores, keep ASCII as is) and as UTF-16LE (V8's two-byte strings).
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { DatabaseSync } from "node:sqlite";

export interface ScannedFile {
  // Path relative to the scanned directory.
  path: string;
  // Every row of every table as text (null when the file is not an SQLite database).
  rows: string | null;
  // The file's bytes as Latin-1 and as UTF-16LE.
  raw: string;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function isSqlite(path: string): boolean {
  if (statSync(path).size < 100) return false;
  return readFileSync(path).subarray(0, 16).toString("latin1") === "SQLite format 3\0";
}

function asText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value);
    return `${bytes.toString("latin1")}\n${bytes.toString("utf16le")}`;
  }
  return String(value);
}

// Opens a copy (with its -wal journal, so SQLite replays what was not checkpointed yet): the
// original stays untouched even if a process still has it open, and a read never needs its -shm.
function readRows(path: string): string {
  const scratch = mkdtempSync(join(tmpdir(), "edgeclaw-scan-"));
  try {
    const copy = join(scratch, "db.sqlite");
    copyFileSync(path, copy);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${copy}-wal`);
    const db = new DatabaseSync(copy);
    try {
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
      const parts: string[] = [];
      for (const { name } of tables) {
        const quoted = `"${name.replaceAll('"', '""')}"`;
        const select = db.prepare(`SELECT * FROM ${quoted}`);
        select.setReadBigInts(true); // nanosecond timestamps and the like exceed a double
        for (const row of select.all()) {
          parts.push(`${name}: ${Object.values(row as Record<string, unknown>).map(asText).join(" | ")}`);
        }
      }
      return parts.join("\n");
    } finally {
      db.close();
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Every file under `dir`, read as above. Call it after the processes writing there stopped. */
export function scanState(dir: string): ScannedFile[] {
  if (!existsSync(dir)) return [];
  return walk(dir).map((path) => {
    const bytes = readFileSync(path);
    return {
      path: relative(dir, path),
      rows: isSqlite(path) ? readRows(path) : null,
      raw: `${bytes.toString("latin1")}\n${bytes.toString("utf16le")}`,
    };
  });
}

/** The files whose table rows hold `needle`. */
export function inRows(files: ScannedFile[], needle: string): string[] {
  return files.filter((f) => f.rows?.includes(needle)).map((f) => f.path);
}

/** The files that hold `needle` anywhere: in a row or in their bytes. */
export function anywhere(files: ScannedFile[], needle: string): string[] {
  return files.filter((f) => f.rows?.includes(needle) || f.raw.includes(needle)).map((f) => f.path);
}
