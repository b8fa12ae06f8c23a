// Residency (docs/deploy.md): a regional deployment pins every Durable Object with
// namespace.jurisdiction() or a location hint, and workers/regions/objects.ts is the only place
// that does it. A module that reached a namespace itself (idFromName, getByName, newUniqueId,
// idFromString) would create or find objects outside the jurisdiction, so none may.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const ALLOWED = new Set(["workers/regions/objects.ts"]);
const NAMESPACE_CALL = /\.(?:idFromName|getByName|newUniqueId|idFromString)\(/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name));
}

// Lines of code (not comments) that reach a namespace directly.
export function directNamespaceCalls(text: string): number[] {
  const lines: number[] = [];
  text.split("\n").forEach((line, i) => {
    const code = line.trimStart().startsWith("//") ? "" : line.replace(/\/\/.*$/, "");
    if (NAMESPACE_CALL.test(code)) lines.push(i + 1);
  });
  return lines;
}

describe("Durable Object pinning", () => {
  it("finds a direct namespace call when there is one (the scan can fail)", () => {
    expect(directNamespaceCalls("const s = env.SESSIONS.get(env.SESSIONS.idFromName(key));")).toEqual([1]);
    expect(directNamespaceCalls("// env.SESSIONS.idFromName(key) in a comment")).toEqual([]);
  });

  it("leaves workers/regions/objects.ts the only module of the Worker and its Durable Objects that reaches a namespace", () => {
    const offenders: string[] = [];
    for (const file of [...sources(join(ROOT, "workers")), ...sources(join(ROOT, "durable-objects"))]) {
      const rel = relative(ROOT, file).split("\\").join("/");
      if (ALLOWED.has(rel)) continue;
      for (const line of directNamespaceCalls(readFileSync(file, "utf8"))) offenders.push(`${rel}:${line}`);
    }
    expect(offenders).toEqual([]);
  });
});
