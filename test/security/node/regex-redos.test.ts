// Item 2 of the hardening issue (regex DoS): every regular expression in the Worker, the schemas,
// the Durable Objects and the gpu-backend must match in linear time, whoever writes its input.
// The regexes are found with the TypeScript parser (regex-sources.ts), so one added tomorrow is
// checked without touching this file, and each is analysed by recheck (automata theory plus
// fuzzing) for super-linear backtracking. The fixture proves both halves can fail.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { extractRegexes, type Extraction, type FoundRegex } from "./regex-sources.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const ROOTS = ["workers", "schema", "durable-objects", "gpu-backend/src"];
const FIXTURES = "test/security/node/fixtures";
const PROJECTS = ["tsconfig.json", "gpu-backend/tsconfig.json"];

// recheck's native binary where the platform has one (recheck-linux-x64 and friends, optional
// dependencies), else its Scala.js build in a worker thread. Both run offline; never the JVM one.
function chooseBackend(): string {
  if (process.env.RECHECK_BACKEND) return process.env.RECHECK_BACKEND;
  const os = { linux: "linux", darwin: "macos", win32: "windows" }[process.platform as string];
  try {
    createRequire(import.meta.url).resolve(`recheck-${os}-${process.arch}/package.json`);
    return "native";
  } catch {
    return "worker";
  }
}
process.env.RECHECK_BACKEND = chooseBackend();
const { check } = await import("recheck");

// Deterministic on a loaded machine: bounded repeats such as {1,256} stay within the automaton
// checker (a proof, not a search; recheck's default gives up on repeats over 30 and falls back to
// fuzzing), and the fuzzer that lookarounds still need runs on step limits, not wall-clock ones.
// Only the overall limit is a time: "unknown" (timeout) fails the test like "vulnerable".
const CHECK_PARAMS = {
  maxRepeatCount: 1000,
  attackTimeout: null,
  incubationTimeout: null,
  seedingTimeout: null,
  timeout: 90_000,
};

interface Verdict {
  regex: FoundRegex;
  status: string;
  detail: string;
}

async function verdicts(regexes: FoundRegex[]): Promise<Verdict[]> {
  const unique = new Map<string, Promise<{ status: string; detail: string }>>();
  for (const r of regexes) {
    const key = `/${r.source}/${r.flags}`;
    if (!unique.has(key)) {
      unique.set(
        key,
        check(r.source, r.flags, CHECK_PARAMS).then((d) => ({
          status: d.status,
          detail:
            d.status === "vulnerable"
              ? `${d.checker}: ${d.complexity.summary}; attack ${d.attack.pattern}`
              : d.status === "unknown"
                ? `${d.error.kind}${"message" in d.error ? `: ${d.error.message}` : ""}`
                : `${d.checker}: ${d.complexity.summary}`,
        })),
      );
    }
  }
  return Promise.all(regexes.map(async (regex) => ({ regex, ...(await unique.get(`/${regex.source}/${regex.flags}`)!) })));
}

const where = (v: Verdict) => `${v.regex.file}:${v.regex.line} /${v.regex.source}/${v.regex.flags} -> ${v.status} (${v.detail})`;

describe("ReDoS check of every regex in the source", () => {
  let found: Extraction;
  beforeAll(() => {
    found = extractRegexes(REPO, [...ROOTS, FIXTURES], PROJECTS);
  });
  const inFixtures = <T extends { file: string }>(xs: T[]) => xs.filter((x) => x.file.startsWith(FIXTURES));
  const inSource = <T extends { file: string }>(xs: T[]) => xs.filter((x) => !x.file.startsWith(FIXTURES));

  it("finds literals, new RegExp of strings and const-built templates, and reports run-time patterns as dynamic", () => {
    const fixtures = inFixtures(found.regexes).map((r) => ({ form: r.form, source: r.source, flags: r.flags }));
    expect(fixtures).toEqual([
      { form: "literal", source: "SELECT .* FROM", flags: "" },
      { form: "constructor", source: "^(a+)+$", flags: "" },
      { form: "constructor", source: "^(?:[a-z]+)*[a-z]+!$", flags: "i" },
    ]);
    expect(inFixtures(found.dynamic).map((d) => d.text)).toEqual(["new RegExp(pattern)"]);
  });

  it("the checker flags the fixture's patterns (the old /SELECT .* FROM/ of facts.ts among them)", async () => {
    const results = await verdicts(inFixtures(found.regexes));
    expect(results.length).toBe(3);
    for (const v of results) expect(v.status, where(v)).toBe("vulnerable");
  });

  it("every regex in workers/, schema/, durable-objects/ and gpu-backend/src/ is linear-time", async () => {
    // Every source file was parsed (none outside a tsconfig project), and no pattern is built
    // at run time where it could not be checked.
    expect(found.unparsed).toEqual([]);
    expect(inSource(found.dynamic)).toEqual([]);
    const regexes = inSource(found.regexes);
    expect(regexes.length).toBeGreaterThan(50);
    expect(regexes.some((r) => r.file === "workers/router/classifiers.ts")).toBe(true);
    const results = await verdicts(regexes);
    const bad = results.filter((v) => v.status !== "safe");
    expect(bad.map(where)).toEqual([]);
  });
});
