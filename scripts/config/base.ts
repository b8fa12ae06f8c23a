// The default (top-level) Wrangler environment: the single-region local setup that `npm start`,
// `wrangler dev` and the Vitest Workers pool use. scripts/config/generate.ts writes it to
// wrangler.jsonc with the comments below and repeats its bindings, vars, migrations, triggers and
// rate limits into every region's env (Wrangler does not inherit those into environments).
// Change settings HERE, then `npm run config`: wrangler.jsonc is generated.

export const PLACEHOLDER_DATABASE_ID = "00000000-0000-4000-8000-000000000000";

// The usage queue (workers/usage/): every model call's usage event, consumed into D1 in batches.
// Each region's env has its own pair, named edgeclaw-usage-<region> (scripts/config/generate.ts).
export const USAGE_QUEUE = "edgeclaw-usage";

// The Workers Analytics Engine dataset every usage event is also written to (workers/usage/
// analytics.ts), for Cloudflare's dashboards and SQL API. One dataset for the whole deployment:
// each data point names its region, so one SQL query spans every region.
export const USAGE_DATASET = "edgeclaw_usage";

// The operator console's static build (console/, `npm run build:console`; docs/console.md): Vite
// writes it to console/dist/console/, so its files are served under /console/ by Workers Static Assets.
export const CONSOLE_ASSETS_DIR = "console/dist";

// Durable Object classes in the order they were added: each binding and its migration tag.
const durableObjects = [
  { name: "BREAKERS", class_name: "CircuitBreaker" },
  { name: "LIMITERS", class_name: "RateLimiter" },
  { name: "BUDGETS", class_name: "SpendBudget" },
  { name: "SESSIONS", class_name: "ChatSession" },
  { name: "SCHEDULER", class_name: "SchedulerShard" },
  { name: "ACCOUNT_LEDGERS", class_name: "ChannelAccountLedger" },
  { name: "RESPONSES", class_name: "ResponseStore" },
  { name: "SEND_LIMITERS", class_name: "SendLimiter" },
  { name: "DISCORD_GATEWAYS", class_name: "DiscordGateway" },
  { name: "FEISHU_TOKENS", class_name: "FeishuTokenCache" },
];

export const baseConfig = {
  name: "edgeclaw",
  main: "workers/index.ts",
  compatibility_date: "2026-10-01",
  compatibility_flags: ["nodejs_als"],
  keep_names: false,
  observability: { enabled: true },
  d1_databases: [
    { binding: "DB", database_name: "edgeclaw", database_id: PLACEHOLDER_DATABASE_ID, migrations_dir: "schema/migrations" },
  ],
  vars: {
    CACHE_TTL_MS: "30000",
    MAX_REQUEST_BYTES: "4194304",
    UPSTREAM_TIMEOUT_MS: "120000",
    CONFIG_REFRESH_MS: "1000",
    SEND_RETRY_BASE_MS: "1000",
    TURN_RETRY_BASE_MS: "2000",
    SCHEDULER_SHARDS: "16",
    SCHEDULER_TICK_MS: "100",
    SCHEDULER_MISSED_GRACE_MS: "30000",
    SCHEDULER_RETRY_BASE_MS: "2000",
    SCHEDULER_ACTION_TIMEOUT_MS: "30000",
    SCHEDULER_MAX_INFLIGHT: "32",
    SCHEDULER_TENANT_INFLIGHT: "4",
    ADMIN_TOKEN_MAX_TTL_S: "2592000",
    USAGE_RETENTION_DAYS: "90",
    USAGE_ROLLUP_MINUTE_HOURS: "48",
    USAGE_ROLLUP_HOUR_DAYS: "90",
    AUDIT_DATA_RETENTION_DAYS: "90",
  } as Record<string, string>,
  triggers: { crons: ["17 3 * * *"] },
  durable_objects: { bindings: durableObjects },
  migrations: [
    { tag: "v1-router", new_sqlite_classes: ["CircuitBreaker", "RateLimiter", "SpendBudget"] },
    { tag: "v2-sessions", new_sqlite_classes: ["ChatSession"] },
    { tag: "v3-scheduler", new_sqlite_classes: ["SchedulerShard"] },
    { tag: "v4-channel-ledger", new_sqlite_classes: ["ChannelAccountLedger"] },
    { tag: "v5-responses", new_sqlite_classes: ["ResponseStore"] },
    { tag: "v6-send-limiter", new_sqlite_classes: ["SendLimiter"] },
    { tag: "v7-discord-gateway", new_sqlite_classes: ["DiscordGateway"] },
    { tag: "v8-feishu-tokens", new_sqlite_classes: ["FeishuTokenCache"] },
  ],
  ratelimits: [{ name: "CHANNEL_INGRESS", namespace_id: "1001", simple: { limit: 3000, period: 60 } }],
  queues: {
    producers: [{ binding: "USAGE_QUEUE", queue: USAGE_QUEUE }],
    consumers: [
      { queue: USAGE_QUEUE, max_batch_size: 100, max_batch_timeout: 2, max_retries: 10, dead_letter_queue: `${USAGE_QUEUE}-dlq` },
    ],
  },
  analytics_engine_datasets: [{ binding: "USAGE_ANALYTICS", dataset: USAGE_DATASET }],
  assets: { directory: CONSOLE_ASSETS_DIR, binding: "ASSETS", run_worker_first: true },
};

export type BaseConfig = typeof baseConfig;

// Comments written before a key of the default env. A path is the keys from the top joined by
// "."; an array item is named by its name, binding or tag (durable_objects.bindings.SESSIONS).
export const baseComments: Record<string, string> = {
  compatibility_date: "workerd 1.20261023.1 (pinned through wrangler 4.155.0) refuses dates after 2026-10-23.",
  compatibility_flags:
    "nodejs_als: AsyncLocalStorage (node:async_hooks) and nothing else of Node. The active trace span\n" +
    "travels with the request's async context (workers/observability/trace.ts).",
  observability:
    "Workers Logs and Cloudflare's built-in traces: every request's JSON log line\n" +
    "(workers/observability/log.ts) is indexed there. Environments inherit it.",
  keep_names:
    "esbuild's keep_names wraps every function, class field and closure in a __name() call that\n" +
    "runs each time the closure is created: Hono makes a dozen per request (its Context methods\n" +
    "are arrow-function fields). A CPU profile of a chat request put __name at about 5% of its\n" +
    "JavaScript time. Nothing here reads function names, so the bundle goes without.",
  "d1_databases.DB.database_id":
    "Local development and tests only use the local SQLite copy. Each region's env names its own\n" +
    "database (edgeclaw-<region>); `npm run deploy` creates it and writes its real id into a\n" +
    "deploy-time copy of this file (.wrangler/edgeclaw-deploy/), never into git.",
  vars:
    "Secrets (never in this file or in D1):\n" +
    "  ADMIN_JWT_SECRET      HS256 key for /admin tokens (>= 32 characters)\n" +
    '  VAULT_KEYS            the vault\'s master keys, JSON {"current":"k1","keys":{"k1":"<base64 32 bytes>"}}\n' +
    '                        (docs/gateway.md, "Secrets"); without it the vault answers 503\n' +
    "  PROVIDER_<NAME>       deployment-wide upstream credentials, referenced by providers.credential_ref\n" +
    "  TELEGRAM_<NAME>, SLACK_<NAME>, DISCORD_<NAME>, LINE_<NAME>, WHATSAPP_<NAME>, FEISHU_<NAME>,\n" +
    "  WEBHOOK_<NAME>        deployment-wide bot tokens and webhook signing keys\n" +
    "                        (only owners may reference these; tenants use vault:<name>)\n" +
    "Locally they come from .dev.vars, which `npm start` generates when missing; `npm run deploy`\n" +
    "puts them from .secrets/<region>.env or the environment.",
  "vars.CACHE_TTL_MS":
    "How long an API key (and a tenant's model config) stays cached in one isolate: the upper bound\n" +
    "on how late a revocation reaches an isolate that did not handle the revoking admin call.",
  "vars.MAX_REQUEST_BYTES": "Request bodies above this answer 413 before any parsing.",
  "vars.UPSTREAM_TIMEOUT_MS":
    "Default wait for an upstream's response headers (and between stream chunks) before 504;\n" + "a provider row may set its own.",
  "vars.CONFIG_REFRESH_MS":
    "How long an isolate serves its cached router config before checking the version in D1 in the\n" +
    "background (it never waits for that check): with traffic flowing, this bounds how late an\n" +
    "admin config change reaches every isolate.",
  "vars.SEND_RETRY_BASE_MS":
    "A failed platform send waits this long before its first retry, doubling each time (at least the\n" +
    "platform's retry_after); a failed model call in a session turn likewise.",
  "vars.SCHEDULER_SHARDS":
    "Scheduler (docs/scheduler.md): jobs are hashed to SCHEDULER_SHARDS shard Durable Objects (do not\n" +
    "change it once jobs exist); due times are grouped in buckets of SCHEDULER_TICK_MS; an occurrence\n" +
    "later than SCHEDULER_MISSED_GRACE_MS counts as missed (the job's missed-run policy applies).",
  "vars.SCHEDULER_ACTION_TIMEOUT_MS":
    "A webhook, heartbeat model call or notify that takes longer is abandoned (a retryable failure);\n" +
    "at most SCHEDULER_MAX_INFLIGHT such actions run at once per shard, SCHEDULER_TENANT_INFLIGHT per\n" +
    "tenant and shard, so one tenant's hanging endpoint delays only its own jobs.",
  "vars.USAGE_RETENTION_DAYS":
    "Raw usage events (usage_events) older than this many days are deleted by the daily cron, unless\n" +
    "the tenant has its own period (PUT /admin/usage/retention; null there keeps them forever). 0: kept forever.",
  "vars.USAGE_ROLLUP_MINUTE_HOURS":
    "Usage rollups (usage_rollups) are purged by the same daily cron: minute rows older than\n" +
    "USAGE_ROLLUP_MINUTE_HOURS hours (1-720), hour rows older than USAGE_ROLLUP_HOUR_DAYS days (1-3650).\n" +
    "Day rows are kept forever: GET /metrics sums them, and deleting them would make its counters go down.",
  "vars.AUDIT_DATA_RETENTION_DAYS":
    "Data-plane audit rows (message, job, pairing and secret events: audit_log rows with an event_id) older\n" +
    "than this many days (1-36500) are deleted by the daily cron, unless the tenant's own audit period\n" +
    "(PUT /admin/audit/retention) is shorter. Admin rows keep the tenant's period (null: forever).",
  "vars.ADMIN_TOKEN_MAX_TTL_S": "Longest lifetime (exp - iat, seconds) an admin token may have; longer ones are refused (30 days).",
  triggers:
    "Daily at 03:17 UTC: audit rows past their tenant's retention, data-plane audit rows past\n" +
    "AUDIT_DATA_RETENTION_DAYS, raw usage events past theirs, minute and\n" +
    "hour usage rollups past theirs, expired token revocations (workers/admin/maintenance.ts).",
  "durable_objects.bindings.BREAKERS": "The router's shared counters, one Durable Object per counted thing (see durable-objects/).",
  "durable_objects.bindings.SESSIONS": "One session Durable Object per conversation (durable-objects/session.ts).",
  "durable_objects.bindings.SCHEDULER": "Scheduler shards (durable-objects/scheduler.ts): jobs hashed by id to shard:<i>.",
  "durable_objects.bindings.ACCOUNT_LEDGERS":
    "One ledger per channel account: platform message ids seen account-wide (Telegram's update_id\n" +
    "is unique per bot), durable-objects/account-ledger.ts.",
  "durable_objects.bindings.RESPONSES":
    "One store per tenant for /v1/responses answers kept for previous_response_id and GET\n/v1/responses/:id (durable-objects/response-store.ts).",
  "durable_objects.bindings.SEND_LIMITERS":
    "One send limiter per channel account: the platform's bot-wide send limit, shared by every chat\n" +
    "of the account (durable-objects/send-limiter.ts, workers/channels/send-limits.ts).",
  "durable_objects.bindings.DISCORD_GATEWAYS":
    "One Gateway connection per Discord bot account: its WebSocket, session and event order\n" +
    "(durable-objects/discord-gateway.ts, workers/channels/discord-gateway/).",
  "durable_objects.bindings.FEISHU_TOKENS":
    "One tenant_access_token cache per Feishu/Lark app account: one refresh at a time, shared by\n" +
    "every session of the account (durable-objects/feishu-token.ts, workers/channels/feishu-token.ts).",
  queues:
    "Usage events (workers/usage/): the Worker and its Durable Objects send one per model call without\n" +
    "waiting; the queue() handler inserts each delivered batch into D1 (usage_events) in one statement\n" +
    "batch, INSERT OR IGNORE on the event id. A batch whose insert fails is retried (max_retries), then\n" +
    "goes to the dead-letter queue. Regional envs use edgeclaw-usage-<region> and its -dlq.",
  analytics_engine_datasets:
    "Workers Analytics Engine: one data point per usage event (workers/usage/analytics.ts), written\n" +
    "without waiting, for Cloudflare's dashboards and SQL API. Not bound to a jurisdiction: the points\n" +
    "carry tenant, key and agent ids, model and route names, never message content.",
  assets:
    "The operator console (console/, docs/console.md), built by `npm run build:console` into console/dist.\n" +
    "run_worker_first: every request reaches the Worker, which serves /console/* from the ASSETS binding\n" +
    "with its Content-Security-Policy (workers/console/); no file can shadow an API path.",
  migrations: "One migration per Durable Object class, in the order the classes were added (never edit or reorder a deployed one).",
  "ratelimits.CHANNEL_INGRESS":
    "Per-location first gate on each channel account's inbound messages (webhooks, hooks, WebChat\n" +
    "frames), keyed by account id: workers/channels/limits.ts. The exact per-account limits live in\n" +
    "Durable Objects; this one only has to stop a flood cheaply. period is 10 or 60 (seconds).",
};
