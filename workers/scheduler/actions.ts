// What a scheduler run does. Each action carries an idempotency key made of the job id and the
// scheduled time, so a run that is retried after a crash (the shard recorded it as started, then
// died before recording the outcome) repeats nothing its receiver already has:
//   reminder   a send intent on the session's outbox, keyed sched:<job>:<scheduled>
//   heartbeat  an agent turn (model call); its answer goes through the same outbox, unless it
//              is the agent's "nothing to report" answer, which is not sent
//   webhook    a POST signed with HMAC-SHA256 and an Idempotency-Key header for the receiver
// `record` has no effect beyond its run row; the shard handles it inside its own transaction.
// Every action gets the shard's deadline (SCHEDULER_ACTION_TIMEOUT_MS) as a signal and a time: the
// webhook fetch and the heartbeat's model call end there whatever the tenant configured.
import type { JobAction } from "../../schema/scheduler.ts";
import { callModel } from "../agents/model-call.ts";
import { tenantAgents, tenantOfSessionKey } from "../agents/config.ts";
import { toHex } from "../auth/encoding.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { withinActiveHours } from "./timing.ts";
import { objectNamed } from "../regions/objects.ts";
import { tracedRoot } from "../observability/otlp.ts";

export interface RunContext {
  jobId: string;
  tenantId: string;
  scheduledAt: number;
  attempt: number;
  waitUntil: (p: Promise<unknown>) => void;
  // Aborts at the deadline (epoch ms) the shard gives every outside effect.
  signal: AbortSignal;
  deadlineAt: number;
}

// ok: done (detail for the run history); retryable false: retrying cannot help, dead-letter now.
export type ActionOutcome = { ok: true; detail: string } | { ok: false; retryable: boolean; error: string };

// The heartbeat answers that mean "nothing to report".
export function isNothingToReport(text: string): boolean {
  const t = text.trim().replace(/(^|[^.!])[.!]+$/, "$1").toLowerCase();
  return t === "" || t === "heartbeat_ok" || t === "nothing to report";
}

export function idempotencyKey(ctx: { jobId: string; scheduledAt: number }): string {
  return `sched:${ctx.jobId}:${ctx.scheduledAt}`;
}

export async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(message))));
}

export async function runAction(env: Env, action: Exclude<JobAction, { kind: "record" }>, ctx: RunContext): Promise<ActionOutcome> {
  switch (action.kind) {
    case "reminder":
      return notifySession(env, action.session_key, ctx, action.text);
    case "heartbeat":
      return heartbeat(env, action, ctx);
    case "webhook": {
      // Checked again at fire time (not only at create): a row written before the policy, or by
      // another path, still cannot reach a private address. Retrying cannot make it pass.
      const verdict = checkOutboundUrl(env, action.url);
      if (!verdict.ok) return { ok: false, retryable: false, error: `webhook URL refused by the outbound-URL policy: ${verdict.reason}`.slice(0, 300) };
      // A delivery is a trace of its own (a shard's alarm joins no request's); the receiver gets
      // its traceparent.
      const attrs = { "edgeclaw.job_id": ctx.jobId, "edgeclaw.tenant_id": ctx.tenantId, "edgeclaw.attempt": ctx.attempt, "server.address": verdict.url.host };
      return tracedRoot(env, ctx.waitUntil, "scheduler.webhook", "client", attrs, async (span) => {
        const outcome = await webhook(env, action, ctx, span?.traceparent());
        if (!outcome.ok) span?.fail(outcome.retryable ? "webhook_failed_retryable" : "webhook_failed");
        return outcome;
      });
    }
  }
}

async function notifySession(env: Env, sessionKey: string, ctx: RunContext, text: string): Promise<ActionOutcome> {
  if (tenantOfSessionKey(sessionKey) !== ctx.tenantId) return { ok: false, retryable: false, error: "session belongs to another tenant" };
  const stub = objectNamed(env, env.SESSIONS, sessionKey);
  const status = await stub.notify(idempotencyKey(ctx), text);
  if (status === "unbound") return { ok: false, retryable: false, error: "session has no conversation to send to yet" };
  return { ok: true, detail: status === "queued" ? "queued on the session outbox" : "already on the session outbox" };
}

async function heartbeat(env: Env, action: Extract<JobAction, { kind: "heartbeat" }>, ctx: RunContext): Promise<ActionOutcome> {
  if (action.active_hours && !withinActiveHours(ctx.scheduledAt, action.active_hours)) return { ok: true, detail: "outside active hours" };
  const agent = (await tenantAgents(env, ctx.tenantId)).agents.get(action.agent_id);
  if (!agent) return { ok: false, retryable: false, error: `no agent '${action.agent_id}' in this tenant` };
  const reply = await callModel(env, {
    tenantId: ctx.tenantId,
    agentId: agent.id,
    model: agent.model,
    messages: [
      { role: "system", content: agent.systemPrompt },
      { role: "user", content: action.prompt },
    ],
    maxTokens: agent.maxReplyTokens,
    requestId: idempotencyKey(ctx),
    sessionKey: action.session_key,
    waitUntil: ctx.waitUntil,
    deadlineAt: ctx.deadlineAt,
    usageRoute: "heartbeat",
  });
  if (isNothingToReport(reply.text)) return { ok: true, detail: "nothing to report (not sent)" };
  return notifySession(env, action.session_key, ctx, reply.text.trim().slice(0, 4000));
}

async function webhook(env: Env, action: Extract<JobAction, { kind: "webhook" }>, ctx: RunContext, traceparent?: string): Promise<ActionOutcome> {
  // The job's own tenant: a vault: reference signs with that tenant's key and no other.
  const resolved = await resolveSecret(env, ctx.tenantId, action.secret_ref, "WEBHOOK_");
  // A deployment without VAULT_KEYS may get it back; a missing secret stays missing.
  if (!resolved.ok) return { ok: false, retryable: resolved.code === "vault_unavailable", error: `signing secret: ${resolved.message}` };
  const secret = resolved.value;
  const key = idempotencyKey(ctx);
  const body = JSON.stringify({ job_id: ctx.jobId, scheduled_at: new Date(ctx.scheduledAt).toISOString(), attempt: ctx.attempt, data: action.body ?? {} });
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = await hmacHex(secret, `${timestamp}.${body}`);
  let res: Response;
  try {
    res = await fetch(action.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-edgeclaw-timestamp": timestamp,
        "x-edgeclaw-signature": `sha256=${signature}`,
        "idempotency-key": key,
        ...(traceparent ? { traceparent } : {}),
      },
      body,
      signal: ctx.signal,
      // A redirect could lead anywhere (a private address the policy refused): not followed.
      redirect: "manual",
    });
  } catch (err) {
    return { ok: false, retryable: true, error: `webhook unreachable: ${String(err)}`.slice(0, 300) };
  }
  await res.body?.cancel();
  if (res.status >= 300 && res.status < 400) return { ok: false, retryable: false, error: `webhook answered ${res.status} (redirects are not followed)` };
  if (res.ok) return { ok: true, detail: `webhook answered ${res.status}` };
  // 4xx other than 408/429 will not get better by retrying.
  const retryable = res.status >= 500 || res.status === 408 || res.status === 429;
  return { ok: false, retryable, error: `webhook answered ${res.status}` };
}
