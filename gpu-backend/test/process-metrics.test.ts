// /metrics serves the standard process_* and nodejs_* series (prom-client's default collectors)
// after the server's own, in one valid exposition: every sample belongs to a family declared once
// with HELP and TYPE, so a name clash between the two sources would show as a repeated family.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "1", CONTEXT_SIZE: "512" });
});
afterAll(() => b?.close());

type Family = { type: string; help: string; samples: { name: string; labels: string; value: number }[] };

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SUFFIXES: Record<string, string[]> = { counter: [""], gauge: [""], histogram: ["_bucket", "_sum", "_count"], summary: ["", "_sum", "_count"] };

/**
 * A strict reading of Prometheus text format 0.0.4: HELP and TYPE once per family, before its
 * samples; each sample named after a declared family (with the suffixes its type allows); values
 * numbers. Throws on anything else.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const helped = new Set<string>();
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) {
      const [, kind, name, ...rest] = line.split(" ");
      if (!name || !NAME.test(name)) throw new Error(`bad family name in: ${line}`);
      if (kind === "HELP") {
        if (helped.has(name)) throw new Error(`HELP twice for ${name}`);
        helped.add(name);
        continue;
      }
      if (families.has(name)) throw new Error(`TYPE twice for ${name}`);
      const type = rest[0] ?? "";
      if (!(type in SUFFIXES) || rest.length !== 1) throw new Error(`bad TYPE line: ${line}`);
      families.set(name, { type, help: "", samples: [] });
      continue;
    }
    // The format ignores empty lines and other comments (prom-client separates families with one).
    if (line === "" || line.startsWith("#")) continue;
    const brace = line.indexOf("{");
    const space = line.lastIndexOf(" ");
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels = brace >= 0 && brace < space ? line.slice(brace + 1, line.lastIndexOf("}")) : "";
    const raw = line.slice(space + 1);
    // Prometheus reads values with Go's ParseFloat: NaN and Inf in any case (prom-client writes
    // "Nan" for an event-loop lag not yet sampled).
    const special: Record<string, number> = { nan: NaN, inf: Infinity, "+inf": Infinity, "-inf": -Infinity };
    const value = raw.toLowerCase() in special ? special[raw.toLowerCase()]! : Number(raw);
    if (raw.trim() === "" || (Number.isNaN(value) && raw.toLowerCase() !== "nan")) throw new Error(`bad value in: ${line}`);
    const family = [...families].find(([f, { type }]) => SUFFIXES[type]!.some((s) => f + s === name));
    if (!family) throw new Error(`sample without a declared family: ${line}`);
    family[1].samples.push({ name, labels, value });
  }
  for (const name of families.keys()) if (!helped.has(name)) throw new Error(`no HELP for ${name}`);
  return families;
}

const value = (families: Map<string, Family>, name: string, labels = "") =>
  [...families.values()].flatMap((f) => f.samples).find((s) => s.name === name && s.labels === labels)?.value;

describe("/metrics with the process's standard series", () => {
  it("serves process_* and nodejs_* beside the server's own series, in one valid exposition", async () => {
    await b.client.chat.completions.create({ model: "tiny", messages: user("count me"), max_tokens: 5 });
    const res = await fetch(`${b.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const families = parseExposition(text);

    // The server's own series, unchanged, and first.
    expect(text.startsWith("# HELP edgeclaw_requests_running ")).toBe(true);
    expect(value(families, "edgeclaw_requests_total", 'model="tiny",outcome="length"')).toBe(1);
    expect(value(families, "edgeclaw_generation_tokens_total", 'model="tiny"')).toBe(5);
    expect(value(families, "vllm:num_requests_running")).toBe(0);
    expect(families.get("vllm:e2e_request_latency_seconds")?.type).toBe("histogram");

    // The process's, with plausible values for this very process.
    expect(families.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(value(families, "process_cpu_seconds_total")).toBeGreaterThan(0);
    expect(value(families, "process_resident_memory_bytes")).toBeGreaterThan(1024 * 1024);
    const started = value(families, "process_start_time_seconds")!;
    expect(Math.abs(started - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5);
    expect(value(families, "process_open_fds")).toBeGreaterThan(0);
    expect(value(families, "nodejs_heap_size_total_bytes")).toBeGreaterThan(0);
    expect(value(families, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
    expect(value(families, "nodejs_heap_size_used_bytes")).toBeLessThanOrEqual(value(families, "nodejs_heap_size_total_bytes")!);
    expect(families.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");
    expect(families.get("nodejs_gc_duration_seconds")?.type).toBe("histogram");
    const [major, minor, patch] = process.versions.node.split(".");
    expect(value(families, "nodejs_version_info", `version="${process.version}",major="${major}",minor="${minor}",patch="${patch}"`)).toBe(1);
  });

  it("keeps the process series once per family across scrapes and servers in one process", async () => {
    const second = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny2", SLOTS: "1", CONTEXT_SIZE: "512" });
    try {
      // A second start would throw "already registered" if the collectors were started per server.
      const scrape = async (u: string) => parseExposition(await (await fetch(`${u}/metrics`)).text());
      const a = await scrape(b.url);
      const c = await scrape(second.url);
      // One process, one CPU counter: it only grows, whichever server is asked.
      expect(value(c, "process_cpu_seconds_total")).toBeGreaterThanOrEqual(value(a, "process_cpu_seconds_total")!);
      expect(value(c, "nodejs_heap_size_total_bytes")).toBeGreaterThan(0);
    } finally {
      await second.close();
    }
  });
});
