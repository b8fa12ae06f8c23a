// Bindings and per-request variables, shared by every Hono app in the Worker.
import type { ChannelAccountLedger } from "../durable-objects/account-ledger.ts";
import type { DiscordGateway } from "../durable-objects/discord-gateway.ts";
import type { FeishuTokenCache } from "../durable-objects/feishu-token.ts";
import type { SpendBudget } from "../durable-objects/budget.ts";
import type { CircuitBreaker } from "../durable-objects/circuit-breaker.ts";
import type { RateLimiter } from "../durable-objects/rate-limiter.ts";
import type { ResponseStore } from "../durable-objects/response-store.ts";
import type { SchedulerShard } from "../durable-objects/scheduler.ts";
import type { SendLimiter } from "../durable-objects/send-limiter.ts";
import type { ChatSession } from "../durable-objects/session.ts";
import type { AdminTokenClaims } from "../schema/admin.ts";
import type { Principal } from "./auth/principal.ts";
import type { GatewayTiming } from "./http/timing.ts";

// The slice of the Workers AI binding the router uses (declared in wrangler.toml as [ai] where
// the deployment has one; local runs have none and the workers-ai kind answers 502 there).
export interface AiBinding {
  run(model: string, inputs: Record<string, unknown>): Promise<unknown>;
}

export interface Env {
  DB: D1Database;
  BREAKERS: DurableObjectNamespace<CircuitBreaker>;
  LIMITERS: DurableObjectNamespace<RateLimiter>;
  BUDGETS: DurableObjectNamespace<SpendBudget>;
  // One per conversation (session key): history, inbox, outbox (durable-objects/session.ts).
  SESSIONS: DurableObjectNamespace<ChatSession>;
  // Scheduler shards, named shard:<i> for i < SCHEDULER_SHARDS (durable-objects/scheduler.ts).
  SCHEDULER: DurableObjectNamespace<SchedulerShard>;
  // One per channel account: the platform message ids it has seen (durable-objects/account-ledger.ts).
  ACCOUNT_LEDGERS: DurableObjectNamespace<ChannelAccountLedger>;
  // One per tenant: its stored /v1/responses answers (durable-objects/response-store.ts).
  RESPONSES: DurableObjectNamespace<ResponseStore>;
  // One per channel account: the platform's account-wide send limit (durable-objects/send-limiter.ts).
  SEND_LIMITERS: DurableObjectNamespace<SendLimiter>;
  // One per Discord bot account: its Gateway WebSocket (durable-objects/discord-gateway.ts).
  DISCORD_GATEWAYS: DurableObjectNamespace<DiscordGateway>;
  // One per Feishu/Lark app account: its tenant_access_token (durable-objects/feishu-token.ts).
  FEISHU_TOKENS: DurableObjectNamespace<FeishuTokenCache>;
  // Per-location first gate on each channel account's inbound messages (workers/channels/limits.ts).
  CHANNEL_INGRESS?: RateLimit;
  AI?: AiBinding;
  // [vars] in wrangler.toml; strings because that is what vars and secrets are.
  CACHE_TTL_MS?: string;
  MAX_REQUEST_BYTES?: string;
  UPSTREAM_TIMEOUT_MS?: string;
  // Largest upstream answer read (a JSON body, or all of a stream) and largest single SSE event,
  // in bytes; beyond them the call fails with 502 upstream_response_too_large (workers/router/).
  UPSTREAM_MAX_RESPONSE_BYTES?: string;
  UPSTREAM_MAX_EVENT_BYTES?: string;
  CONFIG_REFRESH_MS?: string;
  // First wait before a failed platform send (doubling) and a failed session turn is retried.
  SEND_RETRY_BASE_MS?: string;
  TURN_RETRY_BASE_MS?: string;
  // First wait before a Discord Gateway reconnect (doubling per failed attempt, capped at 60 s).
  DISCORD_GATEWAY_RETRY_BASE_MS?: string;
  // Scheduler: shard count (fixed per deployment: jobs are hashed to it), bucket tick, how late an
  // occurrence may be before it counts as missed, first retry wait of a failed run.
  SCHEDULER_SHARDS?: string;
  SCHEDULER_TICK_MS?: string;
  SCHEDULER_MISSED_GRACE_MS?: string;
  SCHEDULER_RETRY_BASE_MS?: string;
  // How long a session's dead letters outlive its expiry when no admin acts (seconds; 30 days).
  DEAD_LETTER_RETENTION_S?: string;
  // Scheduler: the deadline of one outside action, and how many run at once per shard and per
  // tenant within a shard (docs/scheduler.md, "Slow actions").
  SCHEDULER_ACTION_TIMEOUT_MS?: string;
  SCHEDULER_MAX_INFLIGHT?: string;
  SCHEDULER_TENANT_INFLIGHT?: string;
  // Hosts that every outbound-URL check lets through over http and despite being private
  // (workers/security/outbound-url.ts): local development and tests only.
  OUTBOUND_ALLOW_HOSTS?: string;
  // Secret. Without it the admin API answers 503 rather than accepting unsigned tokens.
  ADMIN_JWT_SECRET?: string;
  // Longest accepted admin token lifetime (exp - iat), seconds; default 30 days.
  ADMIN_TOKEN_MAX_TTL_S?: string;
  // Secret. The vault's master keys, JSON {"current":"<id>","keys":{"<id>":"<base64 of 32 bytes>"}}
  // (workers/vault/keyring.ts). Without it (or invalid) every vault operation answers 503.
  VAULT_KEYS?: string;
  // Deployment-wide credentials are further secrets named PROVIDER_*, TELEGRAM_* and WEBHOOK_*;
  // rows (credential_ref, token_ref, secret_ref) name them, or a vault:<name> secret of their own
  // tenant (workers/auth/secrets.ts), so they have no field here. Only owners may name them.
}

export interface AppVariables {
  requestId: string;
  timing: GatewayTiming;
  principal: Principal;
  admin: AdminTokenClaims;
}

export type AppEnv = { Bindings: Env; Variables: AppVariables };

// The numeric [vars], with the defaults that apply when one is missing or not a positive number.
export function settings(env: Env) {
  return {
    cacheTtlMs: numberVar(env.CACHE_TTL_MS, 30_000),
    maxRequestBytes: numberVar(env.MAX_REQUEST_BYTES, 4 * 1024 * 1024),
    upstreamTimeoutMs: numberVar(env.UPSTREAM_TIMEOUT_MS, 120_000),
    upstreamMaxResponseBytes: numberVar(env.UPSTREAM_MAX_RESPONSE_BYTES, 16 * 1024 * 1024),
    upstreamMaxEventBytes: numberVar(env.UPSTREAM_MAX_EVENT_BYTES, 1024 * 1024),
    configRefreshMs: numberVar(env.CONFIG_REFRESH_MS, 1_000),
  };
}

function numberVar(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : fallback;
}
