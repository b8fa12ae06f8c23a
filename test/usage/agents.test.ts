// Agent model calls are metered like /v1 calls: the agent's id instead of a key, the kind of
// call as the route (agent_turn, compaction, heartbeat), the upstream's tokens and the catalog's
// cost, through the real usage queue into D1.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { callModel } from "../../workers/agents/model-call.ts";
import { waitFor } from "../channels/helpers.ts";
import { admin, expectStatus, makeTenant, uid, type TestTenant } from "../gateway/helpers.ts";
import { usageRowsFor } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

describe("usage events from agent calls", () => {
  it.each([
    ["agent_turn", undefined],
    ["compaction", "compaction"],
  ] as const)("%s: the agent, the route, the upstream's tokens and the cost", async (route, usageRoute) => {
    const requestId = uid(`turn-${route}`);
    const pending: Promise<unknown>[] = [];
    const reply = await callModel(env, {
      tenantId: t.tenantId,
      agentId: "agent-usage",
      model: "house-model",
      messages: [{ role: "user", content: "hello" }],
      maxTokens: 64,
      requestId,
      sessionKey: `${t.tenantId}/agent-usage/test`,
      waitUntil: (p) => pending.push(p),
      channel: "telegram",
      ...(usageRoute ? { usageRoute } : {}),
    });
    await Promise.all(pending);
    expect(reply.usage).toEqual({ promptTokens: 11, completionTokens: 3 });
    const [row, ...more] = await usageRowsFor(requestId);
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      tenant_id: t.tenantId,
      key_id: null,
      agent_id: "agent-usage",
      route,
      model: "house-model",
      provider: "fake",
      upstream_model: "fake-echo",
      input_tokens: 11,
      output_tokens: 3,
      tokens_estimated: 0,
      status: 200,
      attempts: 1,
    });
    expect(row!.cost_micro_usd).toBeCloseTo(11 * 0.5 + 3 * 1.5, 9);
    // Agents always stream: the first byte's time is known.
    expect(row!.ttft_ms).not.toBeNull();
  });

  it("a failing agent call: its error, no tokens", async () => {
    const requestId = uid("turn-fail");
    await expect(
      callModel(env, {
        tenantId: t.tenantId,
        agentId: "agent-usage",
        model: "fake-status-400",
        messages: [{ role: "user", content: "hello" }],
        maxTokens: 16,
        requestId,
        sessionKey: `${t.tenantId}/agent-usage/test`,
        waitUntil: () => {},
      }),
    ).rejects.toThrow();
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ route: "agent_turn", agent_id: "agent-usage", status: 400, input_tokens: 0, output_tokens: 0 });
    expect(row!.error_class).not.toBeNull();
  });

  it("a scheduled heartbeat's model call is metered as a heartbeat", async () => {
    const agent = expectStatus(await admin(t.owner, "POST", "/agents", { tenant_id: t.tenantId, name: "pulse", system_prompt: "Be brief.", model: "house-model" }), 201).body.id as string;
    const job = expectStatus(
      await admin(t.owner, "POST", "/jobs", {
        tenant_id: t.tenantId,
        schedule: { kind: "once", delay_ms: 200 },
        action: { kind: "heartbeat", agent_id: agent, session_key: `${t.tenantId}/${agent}/telegram/acct/dm:1`, prompt: "Anything new?" },
        max_attempts: 1,
      }),
      201,
    ).body.id as string;
    const runs = await waitFor(() => admin(t.owner, "GET", `/jobs/${job}/runs`), (a) => a.body.data?.some((r: { state: string }) => r.state !== "started"), 20_000);
    const run = runs.body.data[0] as { scheduled_at: string };
    const [row] = await usageRowsFor(`sched:${job}:${Date.parse(run.scheduled_at)}`);
    expect(row).toMatchObject({ route: "heartbeat", agent_id: agent, tenant_id: t.tenantId, model: "house-model", status: 200, output_tokens: 3 });
  }, 40_000);
});
