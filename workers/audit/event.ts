// Data-plane audit events: what the gateway did on its own (no admin behind it) that an operator
// may have to account for later: a message accepted into a session's inbox, a reply sent, a send
// dead-lettered, a scheduler run settled, a vault secret opened for a call, a DM pairing decided.
// Each is one event with a random id, sent to the usage queue (USAGE_QUEUE, `kind: "audit"` on
// the wire; usage events carry no kind) without making the request or the alarm wait; the queue's
// consumer writes it to audit_log (./consumer.ts), INSERT OR IGNORE on the id.
//
// GDPR (workers/admin/subjects.ts, docs/security.md "GDPR erase"): an event never carries a raw
// peer, chat or group id, nor a session key that embeds one. It carries the subject's digest
// (SHA-256 of tenant and "dm:<peer>" / "group:<group>", what audit_subjects is keyed by), and the
// consumer turns the digest into the subject's pseudonym. The session key's other parts (tenant,
// agent, channel, account: ids the tenant chose) and its thread travel as they are, as the admin
// rows already write them.
import { waitUntil } from "cloudflare:workers";
import { z } from "zod";
import { subjectDigest, subjectOfSessionKey } from "../admin/subjects.ts";
import type { Env } from "../env.ts";
import { enqueue } from "../usage/send-buffer.ts";

export const AUDIT_ACTIONS = [
  "message.accepted",
  "message.sent",
  "message.dead_lettered",
  "job.run",
  "secret.used",
  "pairing.code_issued",
  "pairing.denied",
  "pairing.approved",
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

const scalar = z.union([z.string().max(512), z.number().finite(), z.boolean(), z.null()]);

// The wire shape (external input to the consumer, so bounded like any other).
export const auditEvent = z.strictObject({
  v: z.literal(1),
  kind: z.literal("audit"),
  id: z.string().min(1).max(64),
  at: z.number().int().min(0),
  tenant_id: z.string().min(1).max(256),
  actor: z.string().min(1).max(256),
  action: z.enum(AUDIT_ACTIONS),
  // Free of raw subject ids; with `subject`, the consumer appends "/<pseudonym><thread>".
  target: z.string().max(1024),
  subject: z
    .strictObject({
      digest: z.string().regex(/^[\da-f]{64}$/),
      // "" or "/thread:<id>" (the session key's tail after the subject).
      thread: z.string().max(512),
    })
    .nullable(),
  metadata: z.record(z.string().max(64), scalar).refine((m) => Object.keys(m).length <= 32, "at most 32 metadata fields"),
});

export type AuditEvent = z.infer<typeof auditEvent>;

export interface AuditSubject {
  digest: string;
  thread: string;
}

// A session key split for an event: the head (tenant/agent/channel/account) as the target, and
// the subject by its digest. Computed where the key is known; never the raw subject on the wire.
export async function sessionTarget(tenantId: string, key: string): Promise<{ target: string; subject: AuditSubject }> {
  const parts = key.split("/");
  const head = parts.slice(0, 4).join("/");
  const subject = subjectOfSessionKey(key);
  const thread = key.slice(Math.min(key.length, head.length + 1 + subject.length));
  return { target: head, subject: { digest: await subjectDigest(tenantId, subject), thread } };
}

export interface AuditInput {
  tenantId: string;
  actor: string;
  action: AuditAction;
  target: string;
  subject?: AuditSubject | null;
  metadata?: Record<string, string | number | boolean | null>;
  at?: number;
}

export function auditEventOf(input: AuditInput): AuditEvent {
  return {
    v: 1,
    kind: "audit",
    id: crypto.randomUUID(),
    at: input.at ?? Date.now(),
    tenant_id: input.tenantId,
    actor: input.actor.slice(0, 256),
    action: input.action,
    target: input.target.slice(0, 1024),
    subject: input.subject ?? null,
    metadata: input.metadata ?? {},
  };
}

// Sends without making the caller wait: the event joins the isolate's open batch for the queue
// (workers/usage/send-buffer.ts), sent under the invocation's waitUntil (the Worker's request,
// the Durable Object's alarm or RPC), and a failed send is logged. Auditing never fails the work
// it records. A Worker without the queue binding (the global entry) sends nothing: it does no
// data-plane work of a tenant.
export function sendAudit(env: Env, input: AuditInput): void {
  const queue = env.USAGE_QUEUE as Queue<unknown> | undefined;
  if (!queue) return;
  const event = auditEventOf(input);
  enqueue(queue, keepAlive, { body: event, id: event.id });
}

function keepAlive(p: Promise<unknown>): void {
  try {
    waitUntil(p);
  } catch {
    // Outside any invocation (cannot happen in the Worker's own handlers): the send still runs.
  }
}

// The same, for a subject-bearing session event: the digest is computed off the caller's path.
export function sendSessionAudit(env: Env, key: string, input: Omit<AuditInput, "target" | "subject">): void {
  const at = input.at ?? Date.now();
  const work = sessionTarget(input.tenantId, key).then(({ target, subject }) => sendAudit(env, { ...input, at, target, subject }));
  try {
    waitUntil(work.catch((err: unknown) => console.error(JSON.stringify({ msg: "audit event not sent", action: input.action, error: String(err) }))));
  } catch {
    // see sendAudit
  }
}
