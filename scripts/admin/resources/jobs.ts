// Scheduler jobs (workers/admin/jobs.ts, schema/scheduler.ts). `jobs create` builds the nested
// schedule and action from flags; anything richer goes in --file.
import { tenantFlag, limitFlag, UsageError, type Resource, type Values } from "../spec.ts";

const idArg = [{ name: "id", help: "the job id (job_...)" }];
const HINT = "npm run admin -- jobs create --help";

function num(values: Values, name: string): number | undefined {
  const raw = values[name];
  if (typeof raw !== "string") return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got '${raw}'`, HINT);
  return n;
}

function str(values: Values, name: string): string | undefined {
  const raw = values[name];
  return typeof raw === "string" ? raw : undefined;
}

function schedule(values: Values): Record<string, unknown> | undefined {
  const cron = str(values, "cron");
  const every = num(values, "every-ms");
  const at = str(values, "at");
  const delay = num(values, "delay-ms");
  const given = [cron, every, at ?? delay].filter((v) => v !== undefined).length;
  if (given === 0) return undefined;
  if (given > 1) throw new UsageError("give one schedule: --cron, --every-ms, or --at / --delay-ms", HINT);
  if (cron !== undefined) return { kind: "cron", expr: cron, ...(str(values, "tz") ? { tz: str(values, "tz") } : {}) };
  if (every !== undefined) return { kind: "interval", every_ms: every, ...(str(values, "start-at") ? { start_at: str(values, "start-at") } : {}) };
  return { kind: "once", ...(at !== undefined ? { at } : { delay_ms: delay }) };
}

function action(values: Values): Record<string, unknown> | undefined {
  const kind = str(values, "action");
  if (kind === undefined) return undefined;
  const fields: Record<string, unknown> = { kind };
  const set = (field: string, flag: string) => {
    const v = str(values, flag);
    if (v !== undefined) fields[field] = v;
  };
  set("session_key", "session-key");
  set("text", "text");
  set("agent_id", "agent");
  set("prompt", "prompt");
  set("url", "webhook-url");
  set("secret_ref", "secret-ref");
  return fields;
}

export const jobs: Resource = {
  name: "jobs",
  summary: "scheduled jobs (cron, interval, one-shot): list, create, pause, resume, trigger, delete, runs",
  verbs: [
    {
      name: "list",
      summary: "jobs with their next fire time",
      method: "GET",
      path: "/jobs",
      flags: [tenantFlag, limitFlag, { name: "after", help: "the last id of the previous page", meta: "ID" }],
      output: { columns: ["id", "tenant_id", "name", "state", "schedule", "next_at"] },
    },
    { name: "show", summary: "one job", method: "GET", path: "/jobs/:id", args: idArg },
    { name: "record-stats", summary: "what a tenant's `record` jobs did (benchmarks)", method: "GET", path: "/jobs/record-stats", flags: [tenantFlag] },
    {
      name: "create",
      summary: "create a job from a schedule and an action",
      method: "POST",
      path: "/jobs",
      file: true,
      flags: [
        tenantFlag,
        { name: "name", help: "a label" },
        { name: "cron", help: "cron expression, 5 or 6 fields (croner syntax)", meta: "EXPR" },
        { name: "tz", help: "IANA time zone of --cron (default UTC)", meta: "ZONE" },
        { name: "every-ms", help: "interval in milliseconds (>= 1000)", meta: "MS" },
        { name: "start-at", help: "first interval occurrence (ISO 8601)", meta: "TIME" },
        { name: "at", help: "one-shot time (ISO 8601 with a zone)", meta: "TIME" },
        { name: "delay-ms", help: "one-shot after this delay", meta: "MS" },
        { name: "action", help: "record, reminder, heartbeat or webhook", meta: "KIND" },
        { name: "session-key", help: "reminder/heartbeat: the session to write to", meta: "KEY" },
        { name: "text", help: "reminder: the text to send" },
        { name: "agent", help: "heartbeat: the agent id", meta: "ID" },
        { name: "prompt", help: "heartbeat: the prompt", meta: "TEXT" },
        { name: "webhook-url", help: "webhook: the URL to POST to", meta: "URL" },
        { name: "secret-ref", help: "webhook: the HMAC key, vault:<name>", meta: "REF" },
        { name: "missed", help: "once, all or skip: what to do with occurrences missed while down (default once)", meta: "POLICY" },
        { name: "max-attempts", type: "number", help: "tries per run before dead-lettering (default 5)", meta: "N" },
      ],
      build: (values, body) => {
        // The schedule and action flags are not fields of their own: nested objects.
        const flat: [string, string][] = [["cron", "cron"], ["tz", "tz"], ["every-ms", "every_ms"], ["start-at", "start_at"], ["at", "at"], ["delay-ms", "delay_ms"], ["action", "action"], ["session-key", "session_key"], ["text", "text"], ["agent", "agent"], ["prompt", "prompt"], ["webhook-url", "webhook_url"], ["secret-ref", "secret_ref"]];
        for (const [flag, field] of flat) if (values[flag] !== undefined) delete body[field];
        const s = schedule(values);
        const a = action(values);
        const out: Record<string, unknown> = { ...body, ...(s ? { schedule: s } : {}), ...(a ? { action: a } : {}) };
        if (out.schedule === undefined || out.action === undefined) throw new UsageError("a job needs a schedule (--cron, --every-ms, --at or --delay-ms) and --action (or --file)", HINT);
        return out;
      },
      examples: [
        "jobs create --tenant demo --name nightly --cron '0 3 * * *' --tz Europe/Berlin --action record",
        "jobs create --tenant demo --every-ms 60000 --action webhook --webhook-url https://example.com/tick --secret-ref vault:hook-key",
      ],
    },
    { name: "bulk", summary: "create up to 1,000 jobs from a file {tenant_id?, jobs: [...]}", method: "POST", path: "/jobs/bulk", file: true, flags: [tenantFlag] },
    { name: "pause", summary: "stop firing (kept)", method: "POST", path: "/jobs/:id/pause", args: idArg },
    { name: "resume", summary: "fire again from the next occurrence", method: "POST", path: "/jobs/:id/resume", args: idArg },
    { name: "trigger", summary: "run now, once (its schedule is unchanged)", method: "POST", path: "/jobs/:id/trigger", args: idArg },
    { name: "delete", summary: "delete a job", method: "DELETE", path: "/jobs/:id", args: idArg },
    {
      name: "runs",
      summary: "run history: scheduled, fired, lag, outcome",
      method: "GET",
      path: "/jobs/:id/runs",
      args: idArg,
      flags: [limitFlag],
      output: { columns: ["scheduled_at", "fired_at", "lag_ms", "state", "attempts", "manual", "detail"] },
    },
  ],
};
