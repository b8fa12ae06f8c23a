// The scheduler's maths: cron with a time zone across DST changes, interval arithmetic, missed-run
// plans, shard distribution, active hours, the webhook HMAC.
import { describe, expect, it } from "vitest";
import type { JobSchedule } from "../../schema/scheduler.ts";
import { jobDefinition } from "../../schema/scheduler.ts";
import { hmacHex, isNothingToReport } from "../../workers/scheduler/actions.ts";
import { bucketOf, MAX_CATCH_UP, nextOccurrence, planCatchUp, shardOf, tickPhase, withinActiveHours } from "../../workers/scheduler/timing.ts";
import { newId } from "../../workers/admin/ids.ts";

const t = (iso: string) => Date.parse(iso);
const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function occurrences(schedule: JobSchedule, from: number, n: number): (string | null)[] {
  const out: (string | null)[] = [];
  let cur: number | null = from;
  for (let i = 0; i < n && cur !== null; i++) {
    cur = nextOccurrence(schedule, cur, from);
    out.push(at(cur));
  }
  return out;
}

describe("cron with a time zone", () => {
  it("keeps local wall-clock time across the spring-forward change (Europe/Berlin)", () => {
    const s: JobSchedule = { kind: "cron", expr: "0 9 * * *", tz: "Europe/Berlin" };
    // 29 March 2026: clocks jump from 02:00 CET to 03:00 CEST.
    expect(occurrences(s, t("2026-03-27T12:00:00Z"), 3)).toEqual(["2026-03-28T08:00:00.000Z", "2026-03-29T07:00:00.000Z", "2026-03-30T07:00:00.000Z"]);
  });

  it("runs a time that does not exist that day once, right after the gap", () => {
    const s: JobSchedule = { kind: "cron", expr: "30 2 * * *", tz: "Europe/Berlin" };
    expect(occurrences(s, t("2026-03-28T12:00:00Z"), 2)).toEqual(["2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"]);
  });

  it("runs a repeated local time once on the fall-back day (America/New_York, 6 fields)", () => {
    const s: JobSchedule = { kind: "cron", expr: "0 30 1 * * *", tz: "America/New_York" };
    // 1 November 2026: 01:00-02:00 happens twice; one run, at the first (EDT).
    expect(occurrences(s, t("2026-10-31T12:00:00Z"), 3)).toEqual(["2026-11-01T05:30:00.000Z", "2026-11-02T06:30:00.000Z", "2026-11-03T06:30:00.000Z"]);
  });

  it("refuses bad expressions, field counts and time zones", () => {
    const bad = [
      { expr: "* * * *", tz: "UTC" },
      { expr: "61 * * * *", tz: "UTC" },
      { expr: "0 9 * * *", tz: "Mars/Olympus" },
    ];
    for (const b of bad) {
      expect(jobDefinition.safeParse({ schedule: { kind: "cron", ...b }, action: { kind: "record" } }).success).toBe(false);
    }
    expect(jobDefinition.parse({ schedule: { kind: "cron", expr: "*/5 * * * *" }, action: { kind: "record" } }).missed).toBe("once");
  });
});

describe("intervals and one-shots", () => {
  it("counts interval occurrences from the anchor without drift", () => {
    const s: JobSchedule = { kind: "interval", every_ms: 60_000, start_at: 1_000_000 };
    expect(nextOccurrence(s, 0, 0)).toBe(1_000_000);
    expect(nextOccurrence(s, 1_000_000, 0)).toBe(1_060_000);
    expect(nextOccurrence(s, 1_000_000 + 60_000 * 1000 + 5, 0)).toBe(1_000_000 + 60_000 * 1001);
  });

  it("a one-shot has one occurrence", () => {
    expect(nextOccurrence({ kind: "once", delay_ms: 500 }, 100, 100)).toBe(600);
    expect(nextOccurrence({ kind: "once", delay_ms: 500 }, 600, 100)).toBeNull();
  });

  it("puts a due time in the bucket at or after it", () => {
    expect(bucketOf(1000, 100)).toBe(1000);
    expect(bucketOf(1001, 100)).toBe(1100);
  });

  it("offsets a shard's buckets by its phase, never before the due time, and spreads the shards' phases over the tick", () => {
    expect(bucketOf(1000, 100, 37)).toBe(1037);
    expect(bucketOf(1037, 100, 37)).toBe(1037);
    expect(bucketOf(1038, 100, 37)).toBe(1137);
    for (let t = 1_000_000; t < 1_000_300; t++) {
      const b = bucketOf(t, 100, 93);
      expect(b - t >= 0 && b - t < 100 && (b - 93) % 100 === 0).toBe(true);
    }
    const phases = Array.from({ length: 16 }, (_, i) => tickPhase(i, 16, 100));
    expect(phases[0]).toBe(0);
    expect(new Set(phases).size).toBe(16);
    expect(Math.max(...phases)).toBe(93);
    expect(phases.every((p, i) => i === 0 || p - (phases[i - 1] as number) >= 6)).toBe(true);
  });
});

describe("missed-run plans", () => {
  const s: JobSchedule = { kind: "interval", every_ms: 1_000, start_at: 1_000 };
  const now = 1_000 + 250_000 + 400; // 251 occurrences are due (1,000 .. 251,000)

  it("within the grace an occurrence just runs", () => {
    expect(planCatchUp(s, "skip", 250_000, 251_000, 0, 30_000)).toEqual({ run: 250_000, skipped: 0, lastSkipped: null });
  });

  it("once: the latest runs, the rest are skipped", () => {
    expect(planCatchUp(s, "once", 1_000, now, 0, 30_000)).toEqual({ run: 251_000, skipped: 250, lastSkipped: 250_000 });
  });

  it("skip: none runs", () => {
    expect(planCatchUp(s, "skip", 1_000, now, 0, 30_000)).toEqual({ run: null, skipped: 251, lastSkipped: 251_000 });
  });

  it("all: the most recent MAX_CATCH_UP run, oldest first", () => {
    const plan = planCatchUp(s, "all", 1_000, now, 0, 30_000);
    expect(plan.skipped).toBe(251 - MAX_CATCH_UP);
    expect(plan.run).toBe(251_000 - (MAX_CATCH_UP - 1) * 1_000);
    expect(plan.lastSkipped).toBe((plan.run as number) - 1_000);
  });
});

describe("shards, active hours, signatures", () => {
  it("spreads job ids evenly over the shards", () => {
    const shards = 16;
    const counts = new Array<number>(shards).fill(0);
    const n = 16_000;
    for (let i = 0; i < n; i++) {
      const s = shardOf(newId("job", {}), shards);
      counts[s] = (counts[s] ?? 0) + 1;
    }
    for (const c of counts) {
      expect(c).toBeGreaterThan((n / shards) * 0.85);
      expect(c).toBeLessThan((n / shards) * 1.15);
    }
    expect(shardOf("job_0123", 16)).toBe(shardOf("job_0123", 16));
  });

  it("active hours follow the local clock, across midnight too", () => {
    const day = { start: "08:00", end: "22:00", tz: "Asia/Tokyo" };
    expect(withinActiveHours(t("2026-06-01T00:30:00Z"), day)).toBe(true); // 09:30 JST
    expect(withinActiveHours(t("2026-06-01T14:00:00Z"), day)).toBe(false); // 23:00 JST
    const night = { start: "22:00", end: "06:00", tz: "UTC" };
    expect(withinActiveHours(t("2026-06-01T23:00:00Z"), night)).toBe(true);
    expect(withinActiveHours(t("2026-06-01T12:00:00Z"), night)).toBe(false);
  });

  it("signs with HMAC-SHA256 (RFC 4231-style known answer)", async () => {
    expect(await hmacHex("key", "The quick brown fox jumps over the lazy dog")).toBe("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  });

  it("recognises a heartbeat's nothing-to-report answer", () => {
    expect(isNothingToReport(" HEARTBEAT_OK. ")).toBe(true);
    expect(isNothingToReport("Nothing to report")).toBe(true);
    expect(isNothingToReport("Your build failed.")).toBe(false);
  });
});
