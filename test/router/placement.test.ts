// Where a request goes: conditional rules, weights adapted by measured QoS, priority admission
// to a saturated target, and replica placement (session affinity, power of two choices by the
// load replicas report).
import { beforeAll, describe, expect, it } from "vitest";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { detectLanguage, complexityScore, estimatePromptTokens } from "../../workers/router/facts.ts";
import { effectiveWeights, recordFailure, recordSuccess } from "../../workers/router/qos.ts";
import { parseVllmLoad, pickReplica } from "../../workers/router/replicas.ts";
import { chat, uid } from "../gateway/helpers.ts";
import { ask, calls, declareReplicas, makeRouterTenant, replicaUrl, scenario, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

describe("conditional routing", () => {
  it("routes by max_tokens, a header, tier, language and message count, else the default", async () => {
    const name = uid("cond");
    await setConfig(t, {
      tier: "gold",
      routes: {
        [name]: {
          tree: {
            type: "conditional",
            rules: [
              { when: { field: "max_tokens", op: "gt", value: 1000 }, node: target("fake-echo", { id: "long" }) },
              { when: { field: "header:x-team", op: "eq", value: "research" }, node: target("fake-echo", { id: "research" }) },
              { when: { field: "language", op: "in", value: ["ja", "zh"] }, node: target("fake-echo", { id: "cjk" }) },
              { when: { all: [{ field: "tier", op: "eq", value: "gold" }, { field: "message_count", op: "gte", value: 3 }] }, node: target("fake-echo", { id: "gold-chat" }) },
            ],
            default: target("fake-echo", { id: "small" }),
          },
        },
      },
    });
    const via = async (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      (await chat(t.key, { model: name, ...ask(), ...body }, headers)).headers.get("x-edgeclaw-target");
    expect(await via({ max_tokens: 2000 })).toBe(`${name}/long`);
    expect(await via({}, { "x-team": "research" })).toBe(`${name}/research`);
    expect(await via({ messages: [{ role: "user", content: "こんにちは、元気ですか" }] })).toBe(`${name}/cjk`);
    const three = [{ role: "user", content: "a" }, { role: "assistant", content: "b" }, { role: "user", content: "c" }];
    expect(await via({ messages: three })).toBe(`${name}/gold-chat`);
    expect(await via({})).toBe(`${name}/small`);
  });

  it("computes the facts rules test", () => {
    const simple = chatCompletionRequest.parse({ model: "m", messages: [{ role: "user", content: "What is the capital of France?" }] });
    const hard = chatCompletionRequest.parse({
      model: "m",
      messages: [{ role: "user", content: "Prove step by step and analyze the complexity of this algorithm:\n```js\nfunction f(n) { return n }\n```" }],
    });
    expect(complexityScore(hard, estimatePromptTokens(hard))).toBeGreaterThan(complexityScore(simple, estimatePromptTokens(simple)));
    expect(detectLanguage(simple)).toBe("en");
    expect(detectLanguage(chatCompletionRequest.parse({ model: "m", messages: [{ role: "user", content: "¿Cómo está el clima para los niños?" }] }))).toBe("es");
    expect(detectLanguage(chatCompletionRequest.parse({ model: "m", messages: [{ role: "user", content: "Привет, как дела?" }] }))).toBe("ru");
  });
});

describe("weights and QoS", () => {
  it("splits traffic by weight", async () => {
    const name = uid("weighted");
    await setConfig(t, { routes: { [name]: { tree: { type: "weighted", children: [target("fake-echo", { id: "big", weight: 1000 }), target("fake-echo", { id: "tiny", weight: 1 })] } } } });
    const seen = await Promise.all(Array.from({ length: 20 }, () => chat(t.key, { model: name, ...ask() })));
    expect(seen.filter((r) => r.headers.get("x-edgeclaw-target") === `${name}/big`).length).toBeGreaterThanOrEqual(18);
  });

  it("shifts weight away from a slower and a failing child", () => {
    const [fast, slow, failing] = [uid("q"), uid("q"), uid("q")];
    for (let i = 0; i < 10; i++) {
      recordSuccess(t.tenantId, fast, 50, 150, 100);
      recordSuccess(t.tenantId, slow, 500, 2500, 100);
      recordSuccess(t.tenantId, failing, 50, 150, 100);
      recordFailure(t.tenantId, failing);
    }
    const [wFast, wSlow, wFailing] = effectiveWeights(t.tenantId, [{ path: fast, weight: 1 }, { path: slow, weight: 1 }, { path: failing, weight: 1 }]);
    expect(wFast).toBeCloseTo(1, 5);
    expect(wSlow).toBeLessThan(0.2);
    expect(wFailing).toBeLessThan(0.6);
    expect(wSlow).toBeGreaterThan(0);
  });
});

describe("priority classes", () => {
  it("admits high-priority traffic to a saturated target and sheds low-priority traffic to the fallback", async () => {
    const gated = await scenario({ mode: "delay", delay_ms: 400 });
    const name = uid("prio");
    await setConfig(t, {
      routes: { [name]: { tree: { type: "fallback", children: [target(`fake-scn-${gated}`, { id: "gpu", max_concurrency: 4 }), target("fake-echo", { id: "hosted" })] } } },
      keys: { [t.keyId]: { priority: "high" } },
    });
    // Two in flight: 2 >= 4 * 0.5, so low is shed; high (limit 4) still gets in.
    const busy = [chat(t.key, { model: name, ...ask() }), chat(t.key, { model: name, ...ask() })];
    await new Promise((r) => setTimeout(r, 100));
    const low = await chat(t.key, { model: name, ...ask() }, { "x-edgeclaw-priority": "low" });
    const high = await chat(t.key, { model: name, ...ask() });
    expect(low.headers.get("x-edgeclaw-target")).toBe(`${name}/hosted`);
    expect(low.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/gpu:saturated`);
    expect(high.headers.get("x-edgeclaw-target")).toBe(`${name}/gpu`);
    await Promise.all(busy);
  });
});

describe("replicas", () => {
  it("keeps a session on its replica, and spreads sessionless traffic to the less loaded one", async () => {
    const scn = await scenario({ mode: "ok" });
    const name = uid("replicas");
    await declareReplicas(t, ["ra", "rb", "rc"].map((id) => ({ id, base_url: replicaUrl(id) })));
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`, { replicas: ["ra", "rb", "rc"] }) } } });
    const placed = new Set<string | null>();
    for (let i = 0; i < 6; i++) {
      placed.add((await chat(t.key, { model: name, ...ask() }, { "x-edgeclaw-session": "conversation-42" })).headers.get("x-edgeclaw-replica"));
    }
    expect(placed.size).toBe(1);
  });

  it("moves a session off an unhealthy replica", async () => {
    const scn = await scenario({ mode: "ok" });
    const name = uid("replicas");
    await declareReplicas(t, [{ id: "dead", base_url: "http://127.0.0.1:9/v1" }, { id: "live", base_url: replicaUrl("live") }]);
    await setConfig(t, {
      routes: { [name]: { tree: target(`fake-scn-${scn}`, { replicas: ["dead", "live"] }), retry: { attempts: 2, base_ms: 1, max_ms: 10, budget_ms: 5000 }, breaker: { failures: 1, open_ms: 60_000 } } },
    });
    for (let i = 0; i < 4; i++) {
      const res = await chat(t.key, { model: name, ...ask() }, { "x-edgeclaw-session": `s-${i}` });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-edgeclaw-replica")).toBe("live");
    }
  });

  it("places by reported queue depth (power of two choices) and parses vLLM gauges", async () => {
    const scn = await scenario({ mode: "ok", replica_queue: { busy: 50, idle: 0 } });
    const name = uid("p2c");
    await declareReplicas(t, [{ id: "busy", base_url: replicaUrl("busy") }, { id: "idle", base_url: replicaUrl("idle") }]);
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`, { replicas: ["busy", "idle"] }) } } });
    // Until "busy" has answered once, its load is unknown and it is as likely as "idle".
    for (let i = 0; i < 40 && !(await calls(scn)).replicas.busy; i++) await chat(t.key, { model: name, ...ask() });
    const before = (await calls(scn)).replicas;
    expect(before.busy).toBe(1);
    for (let i = 0; i < 6; i++) expect((await chat(t.key, { model: name, ...ask() })).headers.get("x-edgeclaw-replica")).toBe("idle");
    expect(parseVllmLoad('vllm:num_requests_waiting{model_name="m"} 3.0\nvllm:num_requests_running{model_name="m"} 2\n')).toBe(5);
    const a = { id: "a", baseUrl: "", metricsUrl: null };
    const b = { id: "b", baseUrl: "", metricsUrl: null };
    expect(pickReplica([a, b], [a, b], null, (r) => (r.id === "a" ? 10 : 1))).toBe(b);
  });
});
