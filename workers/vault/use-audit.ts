// secret.used: a data-plane audit event (workers/audit/event.ts) when a vault secret is opened at
// its point of use (workers/auth/secrets.ts resolveSecret): which reference, in which tenant, for
// what kind of use, never the value. The use is told by the reference's prefix family:
//   PROVIDER_  actor "router"            a model provider's credential (every /v1 and agent call)
//   WEBHOOK_   actor "scheduler"         a job webhook's signing secret
//   TELEGRAM_, SLACK_, ...  actor "channel:<platform>"  a bot token or signing secret
// Provider credentials are opened on the hot path of every model call: one event per call would
// double the queue's traffic, so each isolate sends at most one event per (tenant, reference,
// actor) per USE_WINDOW_MS: the log says that, and from when, a secret was in use, not how often
// (usage_events counts the calls). Deployment-wide
// Worker secrets (PROVIDER_* etc. by name) are configuration of the owner, not of a tenant's
// vault, and are not audited here.
import type { SecretPrefix } from "../auth/secrets.ts";
import { sendAudit } from "../audit/event.ts";
import type { Env } from "../env.ts";

export const USE_WINDOW_MS = 60_000;
const MAX_TRACKED = 1_000;

// Per isolate: key -> when its window started.
const windows = new Map<string, number>();

export function actorOfPrefix(prefix: SecretPrefix): string {
  if (prefix === "PROVIDER_") return "router";
  if (prefix === "WEBHOOK_") return "scheduler";
  return `channel:${prefix.slice(0, -1).toLowerCase()}`;
}

export function auditSecretUse(env: Env, tenantId: string, ref: string, prefix: SecretPrefix, now = Date.now()): void {
  const actor = actorOfPrefix(prefix);
  const key = `${tenantId}\n${ref}\n${actor}`;
  const since = windows.get(key);
  if (since !== undefined && now - since < USE_WINDOW_MS) return;
  // Bounded: the oldest entry goes first (Map keeps insertion order; a reopened window re-inserts).
  windows.delete(key);
  if (windows.size >= MAX_TRACKED) windows.delete(windows.keys().next().value as string);
  windows.set(key, now);
  sendAudit(env, { tenantId, actor, action: "secret.used", target: ref, at: now, metadata: { ref, use: prefix, window_s: USE_WINDOW_MS / 1000 } });
}
