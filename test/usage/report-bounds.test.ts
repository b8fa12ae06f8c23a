// GET /admin/usage's refusals (400 JSON, never a 500), the part of a report read from raw events
// where the minute/hour rollups may already be purged, and the daily purge of those rollups
// (minute rows after 48 h, hour rows after 90 days, day rows never) through the real scheduled().
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../workers/index.ts";
import { rollupStatements } from "../../workers/usage/rollups.ts";
import { purgeRollups, rollupRetentionMs } from "../../workers/usage/retention.ts";
import { planReport, reportRows, scanSql, sourceSql } from "../../workers/admin/usage.ts";
import { admin, BASE, expectStatus, makeTenant, ownerToken, uid } from "../gateway/helpers.ts";
import { csvObjects } from "./csv.ts";
import { SELF } from "cloudflare:test";

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

// Raw events at the given times, added to the minute/hour/day rollups by the consumer's own
// statements (as a delivery would), with 7 input tokens each.
async function rolledUpEvents(tenantId: string, times: number[]): Promise<string[]> {
  const ids = times.map(() => uid("evt"));
  const insert = env.DB.prepare(
    "INSERT INTO usage_events (id, at, tenant_id, key_id, route, model, provider, input_tokens, output_tokens, tokens_estimated, cost_micro_usd, latency_ms, status, attempts, request_id, rolled_up) VALUES (?, ?, ?, 'key-1', '/v1/chat/completions', 'm', 'fake', 7, 1, 0, 2, 5, 200, 1, ?, 0)",
  );
  await env.DB.batch([...times.map((at, i) => insert.bind(ids[i], at, tenantId, ids[i])), ...rollupStatements(env.DB, ids)]);
  return ids;
}

async function rollupRows(tenantId: string): Promise<{ granularity: string; bucket_start: number; requests: number }[]> {
  return (
    await env.DB.prepare("SELECT granularity, bucket_start, requests FROM usage_rollups WHERE tenant_id = ? ORDER BY granularity, bucket_start").bind(tenantId).all<{
      granularity: string;
      bucket_start: number;
      requests: number;
    }>()
  ).results;
}

describe("GET /admin/usage: bad input", () => {
  it("answers 400 with a JSON error for every malformed or unbounded query", async () => {
    const owner = await ownerToken();
    const now = Date.now();
    const cases: [string, string?][] = [
      ["from=yesterday"],
      ["from=2026-13-45T00:00:00Z"],
      ["from=2026-11-01T00:00:00"],
      ["to=-5"],
      [`from=${now}&to=${now}`],
      [`from=${now}&to=${now - HOUR}`],
      ["granularity=week"],
      ["group_by=tenant,foo"],
      ["group_by=tenant,key,agent,model"],
      ["group_by=model,model"],
      ["limit=0"],
      ["limit=10001"],
      ["limit=many"],
      ["status=failed"],
      ["format=xml"],
      ["model="],
      [`tenant_id=${"t".repeat(65)}`],
      ["cursor=not%20a%20cursor"],
      ["cursor=abc"],
      ["unknown=1", "unknown_parameter"],
      [`from=${now - 2 * DAY}&to=${now}&granularity=minute`, "too_many_buckets"],
      [`from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`, "too_many_buckets"],
      [`from=${now - 2 * DAY + 7}&to=${now}`, "too_many_buckets"],
      [`from=${now - 100 * DAY}&to=${now - 98 * DAY}&granularity=hour`, "span_not_in_rollups"],
    ];
    for (const [query, code] of cases) {
      const res = await admin(owner, "GET", `/usage?${query}`);
      expect({ query, status: res.status }).toEqual({ query, status: 400 });
      expect(typeof res.body.error.message).toBe("string");
      if (code) expect({ query, code: res.body.error.code }).toEqual({ query, code });
    }
  });
});

describe("the report's granularity and span", () => {
  const keep = (g: string) => (g === "minute" ? 48 * HOUR : g === "hour" ? 90 * DAY : null);
  const now = Date.parse("2026-11-29T07:13:20Z");
  it("defaults to the coarsest granularity whose buckets fit from and to exactly", () => {
    const plan = (from: string, to: string) => planReport({ from: Date.parse(from), to: Date.parse(to) }, keep, now);
    expect(plan("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")).toMatchObject({ granularity: "day", raw: null });
    expect(plan("2026-11-28T06:00:00Z", "2026-11-29T06:00:00Z")).toMatchObject({ granularity: "hour" });
    expect(plan("2026-11-29T06:30:00Z", "2026-11-29T07:00:00Z")).toMatchObject({ granularity: "minute" });
    // Not on whole minutes: widened to them.
    const odd = plan("2026-11-29T06:30:10Z", "2026-11-29T06:59:59.5Z");
    expect(odd).toMatchObject({ granularity: "minute", from: Date.parse("2026-11-29T06:30:00Z"), to: Date.parse("2026-11-29T07:00:00Z") });
    // No from/to: the 24 whole hours up to the end of the current hour.
    expect(planReport({}, keep, now)).toMatchObject({ granularity: "hour", from: Date.parse("2026-11-28T08:00:00Z"), to: Date.parse("2026-11-29T08:00:00Z") });
    // An explicit granularity widens the span to whole buckets.
    expect(planReport({ from: Date.parse("2026-11-29T06:30:00Z"), to: Date.parse("2026-11-29T07:30:00Z"), granularity: "day" }, keep, now)).toMatchObject({
      from: Date.parse("2026-11-29T00:00:00Z"),
      to: Date.parse("2026-11-30T00:00:00Z"),
      rollups: [Date.parse("2026-11-29T00:00:00Z"), Date.parse("2026-11-30T00:00:00Z")],
    });
    // 1,440 buckets pass, 1,441 do not.
    const whole = Date.parse("2026-11-29T07:13:00Z");
    expect(planReport({ from: whole - DAY, to: whole, granularity: "minute" }, keep, now).granularity).toBe("minute");
    expect(() => planReport({ from: whole - DAY - MINUTE, to: whole, granularity: "minute" }, keep, now)).toThrow(/1441 minute buckets/);
  });
});

describe("GET /admin/usage: raw events where the rollups may be gone", () => {
  it("a minute report across the 48 h cutoff reads events before it and rollups after it, never both", async () => {
    const t = await makeTenant();
    const now = Date.now();
    const cutoff = Math.ceil((now - 48 * HOUR) / MINUTE) * MINUTE;
    await rolledUpEvents(t.tenantId, [cutoff - 30 * MINUTE, cutoff - 10 * MINUTE, cutoff + 10 * MINUTE]);
    const from = cutoff - HOUR;
    const to = cutoff + HOUR;
    const q = `/usage?tenant_id=${t.tenantId}&from=${from}&to=${to}&granularity=minute`;
    const before = expectStatus(await admin(t.owner, "GET", q), 200).body;
    // The Worker's clock is a little later than this test's: its cutoff may be a minute on.
    const split = before.sources.events.to;
    expect([cutoff, cutoff + MINUTE].map((ms) => new Date(ms).toISOString())).toContain(split);
    expect(before.sources).toEqual({ events: { from: new Date(from).toISOString(), to: split }, rollups: { from: split, to: new Date(to).toISOString() } });
    expect(before.data.map((r: any) => [r.bucket_start, r.requests, r.input_tokens])).toEqual([
      [new Date(cutoff - 30 * MINUTE).toISOString(), 1, 7],
      [new Date(cutoff - 10 * MINUTE).toISOString(), 1, 7],
      [new Date(cutoff + 10 * MINUTE).toISOString(), 1, 7],
    ]);
    // Purging the old minute rows changes nothing: that part never came from them.
    await purgeRollups(env);
    expect((await rollupRows(t.tenantId)).filter((r) => r.granularity === "minute")).toEqual([{ granularity: "minute", bucket_start: cutoff + 10 * MINUTE, requests: 1 }]);
    expect(expectStatus(await admin(t.owner, "GET", q), 200).body.data).toEqual(before.data);
    // The day report of the same events reads the day rollups only.
    const day = expectStatus(await admin(t.owner, "GET", `/usage?tenant_id=${t.tenantId}&from=${from}&to=${to}&granularity=day`), 200).body;
    expect(day.sources.events).toBeNull();
    expect(day.data.reduce((n: number, r: any) => n + r.requests, 0)).toBe(3);
  });

  it("a report that would aggregate more stored rows than its bound is refused, not run", async () => {
    const t = await makeTenant();
    const now = Date.now();
    await rolledUpEvents(t.tenantId, [now - 30 * MINUTE, now - 20 * MINUTE, now - 10 * MINUTE]);
    const plan = planReport({ from: now - HOUR, to: now, granularity: "minute" }, () => 48 * HOUR, now);
    const filters = { tenantId: t.tenantId, values: {}, status: undefined };
    expect(await reportRows(env.DB, plan, filters, [], null, 10, 3)).toHaveLength(3);
    await expect(reportRows(env.DB, plan, filters, [], null, 10, 2)).rejects.toMatchObject({ status: 400, code: "report_too_large" });
  });

  it("the bound counts the rows the report reads (its span and tenant), before the other filters", async () => {
    const t = await makeTenant();
    const now = Date.now();
    await rolledUpEvents(t.tenantId, [now - 30 * MINUTE, now - 20 * MINUTE, now - 10 * MINUTE]);
    const plan = planReport({ from: now - HOUR, to: now, granularity: "minute" }, () => 48 * HOUR, now);
    // No row matches this key, but the report still reads the tenant's three rows to find that out.
    const filters = { tenantId: t.tenantId, values: { key_id: "no-such-key" }, status: undefined };
    expect(await reportRows(env.DB, plan, filters, [], null, 10, 3)).toEqual([]);
    await expect(reportRows(env.DB, plan, filters, [], null, 10, 2)).rejects.toMatchObject({ status: 400, code: "report_too_large" });
  });

  it("a tenant's report and its bound read the rollups through the (granularity, tenant_id, bucket_start) index", async () => {
    const filters = { tenantId: "ten-plan", values: { model: "m" }, status: "ok" as const };
    const plan = async (sql: string, params: unknown[]) =>
      (await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>()).results.map((r) => r.detail).join("\n");
    for (const build of [sourceSql, scanSql]) {
      const params: unknown[] = [];
      const sql = build("rollups", "minute", filters, params, [0, 10 * DAY]);
      expect(await plan(sql, params)).toMatch(/usage_rollups_tenant_bucket_idx \(granularity=\? AND tenant_id=\? AND bucket_start>\? AND bucket_start<\?\)/);
    }
    // Raw events of a tenant: its (tenant_id, at) index.
    const params: unknown[] = [];
    expect(await plan(scanSql("raw", "minute", filters, params, [0, DAY]), params)).toMatch(/usage_events_tenant_at_idx/);
  });
});

describe("rollup retention", () => {
  it("the daily cron deletes minute rows past 48 h and hour rows past 90 days, and keeps every day row", async () => {
    const t = await makeTenant();
    const now = Date.now();
    const times = [now - 49 * HOUR, now - 47 * HOUR, now - 91 * DAY, now - 89 * DAY, now - 2000 * DAY];
    await rolledUpEvents(t.tenantId, times);
    const bucket = (at: number, w: number) => Math.floor(at / w) * w;
    const all = await rollupRows(t.tenantId);
    expect(all).toHaveLength(10 + new Set(times.map((at) => bucket(at, DAY))).size);

    // Periods beyond their bounds are clamped (720 h, 3650 days): nothing of these goes.
    const generous = { ...env, USAGE_ROLLUP_MINUTE_HOURS: "100000", USAGE_ROLLUP_HOUR_DAYS: "100000" };
    expect(rollupRetentionMs(generous, "minute")).toBe(720 * HOUR);
    expect(rollupRetentionMs(generous, "hour")).toBe(3650 * DAY);
    expect(rollupRetentionMs({ ...env, USAGE_ROLLUP_MINUTE_HOURS: "soon" }, "minute")).toBe(48 * HOUR);
    expect(rollupRetentionMs({ ...env, USAGE_ROLLUP_HOUR_DAYS: "0" }, "hour")).toBe(DAY);
    expect(rollupRetentionMs(env, "day")).toBeNull();
    await purgeRollups(generous);
    const survivors = (await rollupRows(t.tenantId)).filter((r) => r.granularity === "minute").map((r) => r.bucket_start);
    expect(survivors).toEqual(expect.arrayContaining([bucket(now - 49 * HOUR, MINUTE), bucket(now - 47 * HOUR, MINUTE)]));

    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "17 3 * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const left = await rollupRows(t.tenantId);
    expect(left.filter((r) => r.granularity === "minute").map((r) => r.bucket_start)).toEqual([bucket(now - 47 * HOUR, MINUTE)]);
    expect(left.filter((r) => r.granularity === "hour").map((r) => r.bucket_start)).toEqual(
      [now - 89 * DAY, now - 49 * HOUR, now - 47 * HOUR].map((at) => bucket(at, HOUR)).sort((x, y) => x - y),
    );
    expect(left.filter((r) => r.granularity === "day").map((r) => r.bucket_start)).toEqual([...new Set(times.map((at) => bucket(at, DAY)))].sort((x, y) => x - y));
  });
});

describe("CSV export: names chosen by tenants", () => {
  it("a cell that a spreadsheet would run as a formula is quoted as text; commas, quotes and line breaks survive", async () => {
    const t = await makeTenant();
    const at = Date.now() - 5 * MINUTE;
    const names = [
      ['=HYPERLINK("http://evil.example","x")', "+1", "-2"],
      ["@SUM(A1)", "a,b", 'say "hi"\r\nbye'],
    ];
    const ids = names.map(() => uid("evt"));
    const insert = env.DB.prepare(
      "INSERT INTO usage_events (id, at, tenant_id, route, model, provider, input_tokens, output_tokens, tokens_estimated, cost_micro_usd, latency_ms, status, attempts, request_id, rolled_up) VALUES (?, ?, ?, ?, ?, ?, 1, 1, 0, 1, 1, 200, 1, ?, 0)",
    );
    await env.DB.batch([...names.map(([model, provider, route], i) => insert.bind(ids[i], at, t.tenantId, route, model, provider, ids[i])), ...rollupStatements(env.DB, ids)]);
    const res = await SELF.fetch(`${BASE}/admin/usage?tenant_id=${t.tenantId}&granularity=day&group_by=model,provider,route&format=csv`, { headers: { authorization: `Bearer ${t.owner}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const rows = csvObjects(text).map((r) => [r.model, r.provider, r.route]);
    expect(rows).toEqual(
      expect.arrayContaining([
        [`'=HYPERLINK("http://evil.example","x")`, "'+1", "'-2"],
        ["'@SUM(A1)", "a,b", 'say "hi"\r\nbye'],
      ]),
    );
    expect(rows).toHaveLength(2);
    // No line of the file starts a cell with a formula character outside quotes.
    expect(text.split("\r\n").some((line) => /(^|,)[=+\-@]/.test(line))).toBe(false);
  });
});
