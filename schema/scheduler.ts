// zod schemas for scheduler jobs (issue 6): what the admin API accepts and what a scheduler shard
// stores. A job is a schedule (when) plus an action (what) plus a missed-run policy. Times in
// bodies are ISO 8601 or epoch milliseconds; the shard keeps epoch milliseconds.
import { Cron } from "croner";
import { z } from "zod";

const tenantRef = z.string().min(1).max(64).optional();
const when = z.union([z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)), z.number().int().positive()]);

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const timeZone = z.string().min(1).max(64).refine(validTimeZone, "an IANA time zone such as Europe/Berlin");

export const cronSchedule = z
  .strictObject({
    kind: z.literal("cron"),
    // 5 fields (minute precision) or 6 (leading seconds field), croner syntax.
    expr: z.string().trim().min(9).max(200),
    tz: timeZone.default("UTC"),
  })
  .superRefine((s, ctx) => {
    const fields = s.expr.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      ctx.addIssue({ code: "custom", path: ["expr"], message: "a cron expression has 5 or 6 fields" });
      return;
    }
    try {
      new Cron(s.expr, { timezone: s.tz, paused: true });
    } catch (err) {
      ctx.addIssue({ code: "custom", path: ["expr"], message: err instanceof Error ? err.message : "invalid cron expression" });
    }
  });

export const intervalSchedule = z.strictObject({
  kind: z.literal("interval"),
  every_ms: z.number().int().min(1_000).max(366 * 86_400_000),
  // Occurrences are start_at + k * every_ms (no drift); default: creation time + every_ms.
  start_at: when.optional(),
});

export const onceSchedule = z
  .strictObject({
    kind: z.literal("once"),
    at: when.optional(),
    delay_ms: z.number().int().min(0).max(366 * 86_400_000).optional(),
  })
  .refine((s) => (s.at === undefined) !== (s.delay_ms === undefined), { message: "give exactly one of at or delay_ms" });

export const jobSchedule = z.discriminatedUnion("kind", [cronSchedule, intervalSchedule, onceSchedule]);

// "HH:MM" on a 24-hour clock.
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "HH:MM");

export const recordAction = z.strictObject({
  // Only records its run (benchmarks, smoke tests): the run row is the whole effect.
  kind: z.literal("record"),
});

export const reminderAction = z.strictObject({
  kind: z.literal("reminder"),
  // The session (tenant/agent/channel/account/scope) whose outbox sends the text, to the chat the
  // session last heard from.
  session_key: z.string().min(5).max(1024),
  text: z.string().min(1).max(2000),
});

export const heartbeatAction = z.strictObject({
  kind: z.literal("heartbeat"),
  agent_id: z.string().min(1).max(64),
  session_key: z.string().min(5).max(1024),
  prompt: z.string().min(1).max(4000).default("Heartbeat: check in. If there is nothing worth telling the user, answer exactly HEARTBEAT_OK."),
  // Runs outside these hours (in tz) are recorded as skipped; end before start spans midnight.
  active_hours: z.strictObject({ start: clock, end: clock, tz: timeZone.default("UTC") }).optional(),
});

export const webhookAction = z.strictObject({
  kind: z.literal("webhook"),
  url: z.url({ protocol: /^https?$/ }).max(2000),
  // Where the HMAC key is: vault:<name> (a secret of the job's own tenant) or, for owners only,
  // a Worker secret named WEBHOOK_*; never the key itself, never returned.
  secret_ref: z.string().regex(/^(?:WEBHOOK_[A-Z0-9_]{1,64}|vault:[A-Za-z0-9_.-]{1,64})$/, "vault:<secret name>, or a Worker secret named WEBHOOK_*"),
  body: z.record(z.string(), z.unknown()).optional(),
});

export const jobAction = z.discriminatedUnion("kind", [recordAction, reminderAction, heartbeatAction, webhookAction]);

// What happens to occurrences that fell due while nothing ran (an outage, a stopped dev server):
//   once  run one of them (the latest) and skip the rest
//   all   run each of them, oldest first, at most MAX_CATCH_UP
//   skip  run none; continue with the next occurrence after now
export const missedPolicies = ["once", "all", "skip"] as const;
export type MissedPolicy = (typeof missedPolicies)[number];

export const jobDefinition = z.strictObject({
  name: z.string().trim().min(1).max(200).optional(),
  schedule: jobSchedule,
  action: jobAction,
  missed: z.enum(missedPolicies).default("once"),
  // Tries of one run before it is dead-lettered.
  max_attempts: z.number().int().min(1).max(20).default(5),
});

export const createJobBody = jobDefinition.extend({ tenant_id: tenantRef });

export const bulkCreateJobsBody = z.strictObject({
  tenant_id: tenantRef,
  jobs: z.array(jobDefinition).min(1).max(1000),
});

export const jobListQuery = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  // The last id of the previous page.
  after: z.string().max(100).optional(),
});

export type JobDefinition = z.infer<typeof jobDefinition>;
export type JobSchedule = z.infer<typeof jobSchedule>;
export type JobAction = z.infer<typeof jobAction>;
