// /admin/agents and /admin/bindings: an agent is a system prompt, a model route, a history token
// budget, a DM policy and a session TTL; a binding maps (channel, account, group or peer) to an
// agent. Changes reach the isolate that made them at once, others within CACHE_TTL_MS; a session
// takes the new agent config with its next message.
import { and, desc, eq, isNull, type SQLWrapper } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { agentBindings, agents, type AgentBindingRow, type AgentRow } from "../../schema/agents.ts";
import { createAgentBody, createBindingBody, updateAgentBody } from "../../schema/channels.ts";
import { agentConfig, forgetTenantAgents } from "../agents/config.ts";
import { database, type Database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { pseudonymousBinding } from "./subjects.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, conflictOnUnique, scopedListQuery } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";

export const agentRoutes = new Hono<AppEnv>();

function agentView(row: AgentRow) {
  const a = agentConfig(row);
  return {
    id: a.id,
    tenant_id: a.tenantId,
    name: a.name,
    system_prompt: a.systemPrompt,
    model: a.model,
    history_token_budget: a.historyTokenBudget,
    max_reply_tokens: a.maxReplyTokens,
    dm_policy: a.dmPolicy,
    allowlist: a.allowlist,
    session_ttl_s: a.sessionTtlS,
    merge_queued: a.mergeQueued,
    created_at: iso(row.createdAt),
    updated_at: iso(row.updatedAt),
  };
}

async function visibleAgent(db: Database, c: Context<AppEnv>, id: string): Promise<AgentRow> {
  const row = await db.select().from(agents).where(eq(agents.id, id)).get();
  if (!row) throw new ApiError(404, "not_found", "No such agent.");
  assertVisible(c.get("admin"), row.tenantId, "agent");
  return row;
}

agentRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createAgentBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const now = Date.now();
  const row: AgentRow = {
    id: newId("agt", c.env),
    tenantId,
    name: body.name,
    systemPrompt: body.system_prompt,
    model: body.model,
    historyTokenBudget: body.history_token_budget ?? 4000,
    maxReplyTokens: body.max_reply_tokens ?? 512,
    dmPolicy: body.dm_policy ?? "open",
    allowlist: JSON.stringify(body.allowlist ?? []),
    sessionTtlS: body.session_ttl_s ?? 7 * 86_400,
    mergeQueued: body.merge_queued ?? false,
    createdAt: now,
    updatedAt: now,
  };
  await db
    .batch([
      db.insert(agents).values(row),
      auditInsert(db, claims, { tenantId, action: "agent.create", target: row.id, metadata: { name: row.name, model: row.model, dm_policy: row.dmPolicy } }, now),
    ])
    .catch((err: unknown) => conflictOnUnique(err, `Tenant '${tenantId}' already has an agent named '${row.name}'.`));
  forgetTenantAgents(tenantId);
  return c.json(agentView(row), 201);
});

agentRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(agents)
    .where(tenantId === undefined ? undefined : eq(agents.tenantId, tenantId))
    .orderBy(desc(agents.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(agentView) });
});

agentRoutes.get("/:id", async (c) => c.json(agentView(await visibleAgent(database(c.env.DB), c, c.req.param("id")))));

agentRoutes.patch("/:id", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await visibleAgent(db, c, c.req.param("id"));
  tenantForWrite(claims, row.tenantId);
  const body = await adminBody(c, updateAgentBody);
  const now = Date.now();
  const next: AgentRow = {
    ...row,
    systemPrompt: body.system_prompt ?? row.systemPrompt,
    model: body.model ?? row.model,
    historyTokenBudget: body.history_token_budget ?? row.historyTokenBudget,
    maxReplyTokens: body.max_reply_tokens ?? row.maxReplyTokens,
    dmPolicy: body.dm_policy ?? row.dmPolicy,
    allowlist: body.allowlist ? JSON.stringify(body.allowlist) : row.allowlist,
    sessionTtlS: body.session_ttl_s ?? row.sessionTtlS,
    mergeQueued: body.merge_queued ?? row.mergeQueued,
    updatedAt: now,
  };
  await db.batch([
    db.update(agents).set(next).where(eq(agents.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "agent.update", target: row.id, metadata: { fields: Object.keys(body) } }, now),
  ]);
  forgetTenantAgents(row.tenantId);
  return c.json(agentView(next));
});

export const bindingRoutes = new Hono<AppEnv>();

function bindingView(b: AgentBindingRow) {
  return {
    id: b.id,
    tenant_id: b.tenantId,
    agent_id: b.agentId,
    channel: b.channel,
    account_id: b.accountId,
    group_id: b.groupId,
    peer_id: b.peerId,
    created_at: iso(b.createdAt),
  };
}

bindingRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createBindingBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const agent = await db.select().from(agents).where(and(eq(agents.id, body.agent_id), eq(agents.tenantId, tenantId))).get();
  if (!agent) throw new ApiError(404, "agent_not_found", `Tenant '${tenantId}' has no agent '${body.agent_id}'.`);
  const row: AgentBindingRow = {
    id: newId("bnd", c.env),
    tenantId,
    agentId: agent.id,
    channel: body.channel ?? null,
    accountId: body.account_id ?? null,
    groupId: body.group_id ?? null,
    peerId: body.peer_id ?? null,
    createdAt: Date.now(),
  };
  // The unique index treats NULLs as distinct, so wildcard duplicates are refused here.
  const same = (col: Parameters<typeof eq>[0] & SQLWrapper, v: string | null) => (v === null ? isNull(col) : eq(col, v));
  const existing = await db
    .select({ id: agentBindings.id })
    .from(agentBindings)
    .where(
      and(
        eq(agentBindings.tenantId, tenantId),
        same(agentBindings.channel, row.channel),
        same(agentBindings.accountId, row.accountId),
        same(agentBindings.groupId, row.groupId),
        same(agentBindings.peerId, row.peerId),
      ),
    )
    .get();
  if (existing) throw new ApiError(409, "conflict", `Binding ${existing.id} already has exactly these match fields.`);
  await db
    .batch([
      db.insert(agentBindings).values(row),
      // Audit rows name a peer or group by pseudonym only (subjects.ts: unlinkable on erase).
      auditInsert(db, claims, { tenantId, action: "binding.create", target: row.id, metadata: await pseudonymousBinding(db, tenantId, bindingView(row)) }, row.createdAt),
    ])
    .catch((err: unknown) => conflictOnUnique(err, "A binding with exactly these match fields exists."));
  forgetTenantAgents(tenantId);
  return c.json(bindingView(row), 201);
});

bindingRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(agentBindings)
    .where(tenantId === undefined ? undefined : eq(agentBindings.tenantId, tenantId))
    .orderBy(desc(agentBindings.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(bindingView) });
});

bindingRoutes.delete("/:id", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await db.select().from(agentBindings).where(eq(agentBindings.id, c.req.param("id"))).get();
  if (!row) throw new ApiError(404, "not_found", "No such binding.");
  assertVisible(claims, row.tenantId, "binding");
  tenantForWrite(claims, row.tenantId);
  await db.batch([
    db.delete(agentBindings).where(eq(agentBindings.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "binding.delete", target: row.id, metadata: await pseudonymousBinding(db, row.tenantId, bindingView(row)) }),
  ]);
  forgetTenantAgents(row.tenantId);
  return c.json({ id: row.id, deleted: true });
});
