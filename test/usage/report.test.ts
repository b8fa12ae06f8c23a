// GET /admin/usage after real /v1 calls: the calls go through the Worker against the fake upstream,
// their usage events through the real queue into D1 (events and rollups in one transaction); the
// report's sums, groups, filters, pages and CSV must equal what the raw events say.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, BASE, chat, expectStatus, hello, makeTenant, token, uid, type TestTenant } from "../gateway/helpers.ts";
import { csvObjects } from "./csv.ts";
import { usageRowsFor, type RawUsageRow } from "./helpers.ts";

const HOUR = 3_600_000;
let a: TestTenant;
let b: TestTenant;
let span: string;
let events: RawUsageRow[];

async function call(t: TestTenant, model: string, extra: Record<string, unknown> = {}): Promise<string> {
  const requestId = uid("req-report");
  if (extra.stream) {
    const res = await SELF.fetch(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ model, ...hello, ...extra }),
    });
    await res.text();
  } else {
    await chat(t.key, { model, ...hello, ...extra }, { "x-request-id": requestId });
  }
  return requestId;
}

type Sums = { requests: number; errors: number; status_4xx: number; input_tokens: number; output_tokens: number; cost_micro_usd: number; cache_hits: number; latency_sum_ms: number; ttft_count: number; ttft_sum_ms: number };

function sumEvents(rows: RawUsageRow[]): Sums {
  const s: Sums = { requests: 0, errors: 0, status_4xx: 0, input_tokens: 0, output_tokens: 0, cost_micro_usd: 0, cache_hits: 0, latency_sum_ms: 0, ttft_count: 0, ttft_sum_ms: 0 };
  for (const r of rows) {
    s.requests++;
    if (r.error_class) s.errors++;
    if (r.status >= 400 && r.status < 500) s.status_4xx++;
    s.input_tokens += r.input_tokens;
    s.output_tokens += r.output_tokens;
    s.cost_micro_usd += r.cost_micro_usd;
    if (r.cache === "HIT") s.cache_hits++;
    s.latency_sum_ms += r.latency_ms;
    if (r.ttft_ms !== null) {
      s.ttft_count++;
      s.ttft_sum_ms += r.ttft_ms;
    }
  }
  return s;
}

function sumReport(rows: Record<string, any>[]): Sums {
  const keys = Object.keys(sumEvents([])) as (keyof Sums)[];
  return Object.fromEntries(keys.map((k) => [k, rows.reduce((n, r) => n + Number(r[k]), 0)])) as Sums;
}

function expectSums(actual: Sums, expected: Sums): void {
  const { cost_micro_usd: cost, ...rest } = actual;
  const { cost_micro_usd: expectedCost, ...expectedRest } = expected;
  expect(rest).toEqual(expectedRest);
  expect(cost).toBeCloseTo(expectedCost, 6);
}

beforeAll(async () => {
  [a, b] = [await makeTenant(), await makeTenant()];
  const from = Math.floor(Date.now() / HOUR) * HOUR;
  const ids = [
    await call(a, "house-model"),
    await call(a, "house-model"),
    await call(a, "house-model"),
    await call(a, "house-model", { stream: true, stream_options: { include_usage: true } }),
    await call(a, "fake-status-400"),
    await call(a, "fake-echo"),
  ];
  const idsB = [await call(b, "house-model"), await call(b, "house-model")];
  for (const id of [...ids, ...idsB]) expect(await usageRowsFor(id)).toHaveLength(1);
  // Whole hours around the calls: the report's default granularity is then hour.
  span = `from=${from}&to=${Math.ceil(Date.now() / HOUR) * HOUR + HOUR}`;
  events = (await env.DB.prepare("SELECT * FROM usage_events WHERE tenant_id = ?").bind(a.tenantId).all<RawUsageRow>()).results;
  expect(events).toHaveLength(6);
}, 60_000);

describe("GET /admin/usage", () => {
  it("sums equal the raw events at every granularity", async () => {
    const expected = sumEvents(events);
    // Five answered calls at the fake upstream's 11/3 tokens, one refused with 400.
    expect(expected).toMatchObject({ requests: 6, errors: 1, status_4xx: 1, ttft_count: 1, input_tokens: 55, output_tokens: 15 });
    for (const granularity of [undefined, "minute", "hour", "day"]) {
      const q = `/usage?tenant_id=${a.tenantId}&${span}${granularity ? `&granularity=${granularity}` : ""}`;
      const res = expectStatus(await admin(a.owner, "GET", q), 200).body;
      expect(res.granularity).toBe(granularity ?? "hour");
      expect(res.sources.events).toBeNull();
      expectSums(sumReport(res.data), expected);
      for (const row of res.data) expect(row.cost_usd).toBeCloseTo(row.cost_micro_usd / 1e6, 12);
    }
  });

  it("group_by gives one row per bucket and group, matching the events of that group", async () => {
    const res = expectStatus(await admin(a.owner, "GET", `/usage?tenant_id=${a.tenantId}&${span}&granularity=day&group_by=model,error_class`), 200).body;
    const groups = new Map<string, Record<string, any>[]>();
    for (const row of res.data) {
      expect(Object.keys(row).slice(0, 3)).toEqual(["bucket_start", "model", "error_class"]);
      const key = `${row.model}|${row.error_class}`;
      groups.set(key, [...(groups.get(key) ?? []), row]);
    }
    const expectedKeys = new Set(events.map((e) => `${e.model}|${e.error_class}`));
    expect(new Set(groups.keys())).toEqual(expectedKeys);
    for (const key of expectedKeys) {
      expectSums(sumReport(groups.get(key)!), sumEvents(events.filter((e) => `${e.model}|${e.error_class}` === key)));
    }
    const failed = res.data.find((r: any) => r.model === "fake-status-400");
    expect(failed).toMatchObject({ requests: 1, errors: 1, status_4xx: 1, input_tokens: 0 });
    expect(failed.error_class).toBe(events.find((e) => e.model === "fake-status-400")!.error_class);
  });

  it("filters narrow to the matching events", async () => {
    const cases: [string, (e: RawUsageRow) => boolean][] = [
      ["model=house-model", (e) => e.model === "house-model"],
      ["status=error", (e) => e.error_class !== null],
      ["status=ok", (e) => e.error_class === null],
      [`key_id=${a.keyId}`, (e) => e.key_id === a.keyId],
      ["provider=fake", (e) => e.provider === "fake"],
      [`route=${encodeURIComponent("/v1/chat/completions")}`, (e) => e.route === "/v1/chat/completions"],
      ["agent_id=no-such-agent", () => false],
      ["model=house-model&status=error", () => false],
    ];
    for (const [filter, keep] of cases) {
      const res = expectStatus(await admin(a.owner, "GET", `/usage?tenant_id=${a.tenantId}&${span}&${filter}`), 200).body;
      expectSums(sumReport(res.data), sumEvents(events.filter(keep)));
    }
  });

  it("pages with limit and cursor give the same rows as one page", async () => {
    const q = `/usage?tenant_id=${a.tenantId}&${span}&granularity=minute&group_by=model,route`;
    const whole = expectStatus(await admin(a.owner, "GET", q), 200).body;
    expect(whole.next_cursor).toBeNull();
    expect(whole.data.length).toBeGreaterThanOrEqual(3);
    const pages: unknown[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 20; i++) {
      const page: any = expectStatus(await admin(a.owner, "GET", `${q}&limit=1${cursor ? `&cursor=${cursor}` : ""}`), 200).body;
      pages.push(...page.data);
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    expect(pages).toEqual(whole.data);
    // A cursor belongs to its report's shape.
    const first = expectStatus(await admin(a.owner, "GET", `${q}&limit=1`), 200).body.next_cursor as string;
    expect(expectStatus(await admin(a.owner, "GET", `/usage?tenant_id=${a.tenantId}&${span}&granularity=minute&group_by=model&cursor=${first}`), 400).body.error.code).toBe("invalid_value");
  });

  it("CSV: a header row, RFC 4180, the same rows as JSON, as an attachment", async () => {
    const q = `/usage?tenant_id=${a.tenantId}&${span}&granularity=day&group_by=model`;
    const json = expectStatus(await admin(a.owner, "GET", q), 200).body;
    const res = await SELF.fetch(`${BASE}/admin${q}&format=csv`, { headers: { authorization: `Bearer ${a.owner}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="edgeclaw-usage-[\w-]+\.csv"$/);
    const rows = csvObjects(await res.text());
    expect(rows).toEqual(json.data.map((r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === null ? "" : String(v)]))));
    expect(rows.reduce((n, r) => n + Number(r.requests), 0)).toBe(6);
  });

  it("a tenant admin reads only its own tenant, whatever it asks for", async () => {
    for (const role of ["admin", "viewer"] as const) {
      const own = await token({ sub: "ops", role, tenant: a.tenantId });
      expect(expectStatus(await admin(own, "GET", `/usage?tenant_id=${b.tenantId}&${span}`), 403).body.error.code).toBe("tenant_scope");
      const byTenant = expectStatus(await admin(own, "GET", `/usage?${span}&group_by=tenant`), 200).body;
      expect(new Set(byTenant.data.map((r: any) => r.tenant_id))).toEqual(new Set([a.tenantId]));
      expectSums(sumReport(byTenant.data), sumEvents(events));
      const csv = await SELF.fetch(`${BASE}/admin/usage?${span}&group_by=tenant&format=csv`, { headers: { authorization: `Bearer ${own}` } });
      expect(new Set(csvObjects(await csv.text()).map((r) => r.tenant_id))).toEqual(new Set([a.tenantId]));
    }
    // The owner sees every tenant, or the one it names.
    const all = expectStatus(await admin(a.owner, "GET", `/usage?${span}&group_by=tenant`), 200).body;
    const tenants = new Set(all.data.map((r: any) => r.tenant_id));
    expect(tenants.has(a.tenantId) && tenants.has(b.tenantId)).toBe(true);
    const onlyB = expectStatus(await admin(a.owner, "GET", `/usage?tenant_id=${b.tenantId}&${span}`), 200).body;
    expect(sumReport(onlyB.data).requests).toBe(2);
    expect((await admin("not-a-token", "GET", `/usage?${span}`)).status).toBe(401);
  });
});
