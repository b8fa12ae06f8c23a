// Scrapes for the /metrics tests: GET /metrics through the Worker's app with a METRICS_TOKEN (the
// test Worker has none of its own), waiting for its waitUntil work, parsed strictly.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { app } from "../../workers/app.ts";
import { BASE } from "../gateway/helpers.ts";
import { parsePrometheus, type Family } from "./prometheus.ts";

export const TOKEN = "metrics-test-token-abcdefghijklmnop";

export async function scrape(overrides: Record<string, unknown> = {}): Promise<Map<string, Family>> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }), { ...env, METRICS_TOKEN: TOKEN, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  expect(res.status).toBe(200);
  return parsePrometheus(await res.text());
}

// Polls `probe` until `done` (the work under test lands asynchronously: queues, alarms).
export async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The sum of a family's samples whose labels include `labels` (optionally of one sample name).
export function total(families: Map<string, Family>, name: string, labels: Record<string, string> = {}, sampleName = name): number {
  const f = families.get(name);
  if (!f) return 0;
  return f.samples.filter((s) => s.name === sampleName && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}
