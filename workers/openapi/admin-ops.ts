// Descriptions of the admin API's operational routes: agents and bindings, channel accounts (and
// the Discord Gateway connection), sessions, dead letters, pairings and scheduled jobs.
import { z } from "zod";
import { listQuery } from "../../schema/admin.ts";
import { approvePairingBody, createAgentBody, createBindingBody, createChannelAccountBody, updateAgentBody } from "../../schema/channels.ts";
import { bulkCreateJobsBody, createJobBody, jobListQuery } from "../../schema/scheduler.ts";
import { runsQuery, statsQuery } from "../admin/jobs.ts";
import { ANY_ROLE, WRITERS, type RouteDoc } from "./registry.ts";

const id = (what: string) => ({ id: { description: `The ${what}'s id.` } });
const jobIdParam = { id: { description: "The job's id (job_ and 24 hex digits).", schema: z.string().regex(/^job_[0-9a-f]{24}$/) } };
const sessionKey = { key: { description: "The session key, tenant/agent/channel/account/scope, URL-encoded (slashes as %2F)." } };
const list = (what: string) => ({ 200: { description: `{data: [${what}]}, newest first, within the token's tenant scope.` } });
const admin = { auth: "admin" } as const;
const cronJob = { name: "daily digest", schedule: { kind: "cron", expr: "0 9 * * 1-5", tz: "Europe/Berlin" }, action: { kind: "record" } };

export const adminOpsRoutes: RouteDoc[] = [
  // Agents and bindings
  { ...admin, method: "post", path: "/admin/agents", operationId: "createAgent", tag: "Agents", roles: WRITERS, summary: "Create an agent", description: "A system prompt, a model route, a history token budget, a DM policy (open, allowlist, pairing) and a session TTL.", body: createAgentBody, bodyExample: { tenant_id: "acme", name: "support", system_prompt: "You are Acme's support assistant.", model: "gpt-4o-mini", dm_policy: "pairing" }, ok: { 201: { description: "The agent." } } },
  { ...admin, method: "get", path: "/admin/agents", operationId: "listAgents", tag: "Agents", roles: ANY_ROLE, summary: "List agents", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("agent") },
  { ...admin, method: "get", path: "/admin/agents/:id", operationId: "getAgent", tag: "Agents", roles: ANY_ROLE, summary: "Get an agent", params: id("agent"), ok: { 200: { description: "The agent." } } },
  { ...admin, method: "patch", path: "/admin/agents/:id", operationId: "updateAgent", tag: "Agents", roles: WRITERS, summary: "Update an agent's settings", description: "Sessions take the new settings with their next message.", params: id("agent"), body: updateAgentBody, bodyExample: { max_reply_tokens: 800, dm_policy: "open" }, ok: { 200: { description: "The agent." } } },
  { ...admin, method: "post", path: "/admin/bindings", operationId: "createBinding", tag: "Agents", roles: WRITERS, summary: "Bind an agent to a channel, account, group or peer", body: createBindingBody, bodyExample: { tenant_id: "acme", agent_id: "agt_0123456789abcdef01234567", channel: "telegram" }, ok: { 201: { description: "The binding." } } },
  { ...admin, method: "get", path: "/admin/bindings", operationId: "listBindings", tag: "Agents", roles: ANY_ROLE, summary: "List bindings", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("binding") },
  { ...admin, method: "delete", path: "/admin/bindings/:id", operationId: "deleteBinding", tag: "Agents", roles: WRITERS, summary: "Delete a binding", params: id("binding"), ok: { 200: { description: "{id, deleted: true}." } } },

  // Channel accounts
  { ...admin, method: "post", path: "/admin/channel-accounts", operationId: "createChannelAccount", tag: "Channels", roles: WRITERS, summary: "Connect a channel account (Telegram, Slack, Discord, LINE, WhatsApp, Feishu, WebChat, hook)", description: "Credentials are references (vault:<name>, or an owner's Worker secret with the platform's prefix). The answer holds the webhook URL to register with the platform (and, for a hook account, its token, shown once).", body: createChannelAccountBody, bodyExample: { tenant_id: "acme", channel: "webchat", name: "site-chat" }, ok: { 201: { description: "The account, with its webhook URL." } } },
  { ...admin, method: "get", path: "/admin/channel-accounts", operationId: "listChannelAccounts", tag: "Channels", roles: ANY_ROLE, summary: "List channel accounts", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("channel account") },
  { ...admin, method: "post", path: "/admin/channel-accounts/:id/revoke", operationId: "revokeChannelAccount", tag: "Channels", roles: WRITERS, summary: "Revoke a channel account", params: id("channel account"), ok: { 200: { description: "The account, with revoked_at set." } } },
  { ...admin, method: "post", path: "/admin/channel-accounts/:id/gateway/start", operationId: "startDiscordGateway", tag: "Channels", roles: WRITERS, summary: "Start a Discord account's Gateway connection", params: id("Discord channel account"), ok: { 200: { description: "The connection's state." } } },
  { ...admin, method: "post", path: "/admin/channel-accounts/:id/gateway/stop", operationId: "stopDiscordGateway", tag: "Channels", roles: WRITERS, summary: "Stop a Discord account's Gateway connection", params: id("Discord channel account"), ok: { 200: { description: "The connection's state." } } },
  { ...admin, method: "get", path: "/admin/channel-accounts/:id/gateway", operationId: "getDiscordGateway", tag: "Channels", roles: ANY_ROLE, summary: "A Discord account's Gateway connection state", params: id("Discord channel account"), ok: { 200: { description: "The connection's state." } } },

  // Sessions, dead letters, pairings
  { ...admin, method: "get", path: "/admin/sessions", operationId: "listSessions", tag: "Sessions", roles: ANY_ROLE, summary: "List conversation sessions", query: listQuery, queryExample: { tenant_id: "acme", limit: 20 }, ok: list("session") },
  { ...admin, method: "get", path: "/admin/sessions/:key/export", operationId: "exportSession", tag: "Sessions", roles: ANY_ROLE, summary: "Export a session's state and history", params: sessionKey, ok: { 200: { description: "The session's state." } } },
  { ...admin, method: "delete", path: "/admin/sessions/:key", operationId: "eraseSession", tag: "Sessions", roles: WRITERS, summary: "Erase a session (history, dead letters, pairings; the audit keeps a pseudonym)", params: sessionKey, ok: { 200: { description: "{key, erased: true, removed}." } } },
  { ...admin, method: "post", path: "/admin/sessions/:key/snapshots", operationId: "snapshotSession", tag: "Sessions", roles: WRITERS, summary: "Snapshot a session", params: sessionKey, ok: { 201: { description: "{id, at}." } } },
  { ...admin, method: "post", path: "/admin/sessions/:key/snapshots/:id/restore", operationId: "restoreSession", tag: "Sessions", roles: WRITERS, summary: "Restore a session from a snapshot", params: { ...sessionKey, id: { description: "The snapshot's id (a positive integer)." } }, ok: { 200: { description: "{key, restored}." } } },
  { ...admin, method: "get", path: "/admin/dead-letters", operationId: "listDeadLetters", tag: "Sessions", roles: ANY_ROLE, summary: "List replies that could not be delivered", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("dead letter") },
  { ...admin, method: "post", path: "/admin/dead-letters/:id/retry", operationId: "retryDeadLetter", tag: "Sessions", roles: WRITERS, summary: "Send a dead letter again", params: id("dead letter"), ok: { 200: { description: "{id, action, found}." } } },
  { ...admin, method: "post", path: "/admin/dead-letters/:id/drop", operationId: "dropDeadLetter", tag: "Sessions", roles: WRITERS, summary: "Drop a dead letter", params: id("dead letter"), ok: { 200: { description: "{id, action, found}." } } },
  { ...admin, method: "get", path: "/admin/pairings", operationId: "listPairings", tag: "Sessions", roles: ANY_ROLE, summary: "List pending pairing requests", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("pairing request") },
  { ...admin, method: "post", path: "/admin/pairings/approve", operationId: "approvePairing", tag: "Sessions", roles: WRITERS, summary: "Approve a pairing request by the code its sender got", body: approvePairingBody, bodyExample: { tenant_id: "acme", code: "ABCD2345" }, ok: { 200: { description: "The approved pairing." } } },
  { ...admin, method: "post", path: "/admin/pairings/deny", operationId: "denyPairing", tag: "Sessions", roles: WRITERS, summary: "Deny a pending pairing request by its code: the request is deleted (the sender is not blocked; a later message starts a new request)", body: approvePairingBody, bodyExample: { tenant_id: "acme", code: "ABCD2345" }, ok: { 200: { description: "{id, status: \"denied\", peer_id, denied_at}." } } },

  // Scheduled jobs
  { ...admin, method: "post", path: "/admin/jobs", operationId: "createJob", tag: "Jobs", roles: WRITERS, summary: "Create a scheduled job (cron, interval or once)", body: createJobBody, bodyExample: { tenant_id: "acme", ...cronJob }, ok: { 201: { description: "The job, with next_at." } } },
  { ...admin, method: "post", path: "/admin/jobs/bulk", operationId: "createJobs", tag: "Jobs", roles: WRITERS, summary: "Create up to 1,000 jobs at once", body: bulkCreateJobsBody, bodyExample: { tenant_id: "acme", jobs: [cronJob] }, ok: { 201: { description: "{created, ids}." } } },
  { ...admin, method: "get", path: "/admin/jobs", operationId: "listJobs", tag: "Jobs", roles: ANY_ROLE, summary: "List jobs by id, paged with after", query: jobListQuery, queryExample: { tenant_id: "acme", limit: 50 }, ok: { 200: { description: "{data: [job], next_after}." } } },
  { ...admin, method: "get", path: "/admin/jobs/record-stats", operationId: "getJobRecordStats", tag: "Jobs", roles: ANY_ROLE, summary: "Effect and run counts of a tenant's record jobs (benchmarks, smoke tests)", query: statsQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{effects, runs, duplicated, pending[, lags]}." } } },
  { ...admin, method: "get", path: "/admin/jobs/:id", operationId: "getJob", tag: "Jobs", roles: ANY_ROLE, summary: "Get a job", params: jobIdParam, ok: { 200: { description: "The job." } } },
  { ...admin, method: "post", path: "/admin/jobs/:id/pause", operationId: "pauseJob", tag: "Jobs", roles: WRITERS, summary: "Pause a job", params: jobIdParam, ok: { 200: { description: "The job." } } },
  { ...admin, method: "post", path: "/admin/jobs/:id/resume", operationId: "resumeJob", tag: "Jobs", roles: WRITERS, summary: "Resume a job", params: jobIdParam, ok: { 200: { description: "The job." } } },
  { ...admin, method: "post", path: "/admin/jobs/:id/trigger", operationId: "triggerJob", tag: "Jobs", roles: WRITERS, summary: "Run a job now", params: jobIdParam, ok: { 202: { description: "{id, scheduled_at}." } } },
  { ...admin, method: "delete", path: "/admin/jobs/:id", operationId: "deleteJob", tag: "Jobs", roles: WRITERS, summary: "Delete a job", params: jobIdParam, ok: { 200: { description: "{id, deleted: true}." } } },
  { ...admin, method: "get", path: "/admin/jobs/:id/runs", operationId: "listJobRuns", tag: "Jobs", roles: ANY_ROLE, summary: "A job's recent runs", params: jobIdParam, query: runsQuery, queryExample: { limit: 20 }, ok: { 200: { description: "{data: [run]}." } } },
];
