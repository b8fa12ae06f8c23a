// The audit log and usage reports, with their retention (workers/admin/audit.ts, retention.ts,
// usage.ts, workers/usage/retention.ts).
import { limitFlag, tenantFlag, UsageError, type Flag, type Resource, type Verb } from "../spec.ts";

// `retention set --days N` or `--forever` (days: null).
function retentionVerbs(path: string, min: number): Verb[] {
  return [
    { name: "retention", summary: "the tenant's retention period (days; null: kept for ever)", method: "GET", path: `${path}/retention`, flags: [tenantFlag] },
    {
      name: "set-retention",
      summary: `set the retention period (at least ${min} days) or --forever`,
      method: "PUT",
      path: `${path}/retention`,
      flags: [tenantFlag, { name: "days", type: "number", help: `days to keep (>= ${min})`, meta: "N" }, { name: "forever", field: "days", type: "boolean", value: null, help: "keep for ever" }],
      build: (values, body) => {
        if ((values.days === undefined) === (values.forever === undefined)) throw new UsageError("give one of --days N or --forever", `npm run admin -- ${path.slice(1)} set-retention --help`);
        return body;
      },
    },
  ];
}

const auditFilters: Flag[] = [
  tenantFlag,
  limitFlag,
  { name: "subject", help: "dm:<peer id> or group:<group id> (needs --tenant): rows about one person", meta: "SUBJECT" },
  { name: "action", help: "exact (message.sent), or a prefix ending in '.' or '.*' (message.*)", meta: "ACTION" },
  { name: "actor", help: "exact actor (owner:alice, channel:telegram, scheduler, ...)", meta: "ACTOR" },
  { name: "kind", help: "admin (admin writes) or data (data-plane events)", meta: "KIND" },
  { name: "since", help: "from this time, inclusive (ISO 8601 with a zone, or epoch ms)", meta: "TIME" },
  { name: "until", help: "before this time (exclusive)", meta: "TIME" },
  { name: "before-id", type: "number", help: "the next page: the previous answer's next_before_id", meta: "ID" },
];

export const audit: Resource = {
  name: "audit",
  summary: "the audit log: admin writes and data-plane events, newest first, filtered",
  verbs: [
    { name: "list", summary: "audit rows matching every filter given", method: "GET", path: "/audit", flags: auditFilters, output: { columns: ["id", "at", "tenant_id", "kind", "actor", "action", "target", "metadata"] }, examples: ["audit list --tenant demo --action secret.* --since 2026-11-01T00:00:00Z"] },
    ...retentionVerbs("/audit", 7),
    { name: "purge", summary: "delete the tenant's rows older than its retention period now", method: "POST", path: "/audit/purge", flags: [tenantFlag] },
  ],
};

const usageFlags: Flag[] = [
  { name: "from", help: "start (ISO 8601 with a zone, or epoch ms; default: a day ago)", meta: "TIME" },
  { name: "to", help: "end (default now)", meta: "TIME" },
  { name: "granularity", help: "minute, hour or day", meta: "G" },
  { name: "group-by", help: "comma-separated, up to 3: tenant, key, agent, model, provider, route, error_class", meta: "LIST" },
  tenantFlag,
  { name: "key", field: "key_id", help: "one API key", meta: "ID" },
  { name: "agent", field: "agent_id", help: "one agent", meta: "ID" },
  { name: "model", help: "one model name", meta: "MODEL" },
  { name: "provider", help: "one provider name", meta: "NAME" },
  { name: "route", help: "one route", meta: "ROUTE" },
  { name: "status", help: "ok or error", meta: "STATUS" },
  { name: "limit", type: "number", help: "rows per page (default 1000)", meta: "N" },
  { name: "cursor", help: "the next page: the previous answer's next_cursor", meta: "CURSOR" },
  { name: "csv", field: "format", type: "boolean", value: "csv", help: "CSV (as the API sends it) instead of a table" },
];

export const usage: Resource = {
  name: "usage",
  summary: "usage reports (requests, errors, tokens, cost, latency) and usage retention",
  verbs: [
    {
      name: "report",
      summary: "usage per minute/hour/day, grouped and filtered",
      method: "GET",
      path: "/usage",
      flags: usageFlags,
      output: { columns: ["bucket_start", "tenant_id", "key_id", "agent_id", "model", "provider", "route", "error_class", "requests", "errors", "input_tokens", "output_tokens", "cost_usd", "latency_avg_ms", "ttft_avg_ms"] },
      examples: ["usage report --tenant demo --granularity hour --group-by model", "usage report --from 2026-11-01T00:00:00Z --to 2026-12-01T00:00:00Z --granularity day --csv > november.csv"],
    },
    ...retentionVerbs("/usage", 1),
  ],
};
