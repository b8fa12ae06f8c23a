// Issue 10, item 7 (gateway side): six requests from ONE API key with a 1,000-level nested
// response_format schema crashed the gpu-backend (500) and opened the tenant's circuit breaker,
// so every other client of that route got 503. Now (1) the gateway refuses such schemas itself
// with a 400 naming the field, before any upstream call, and (2) failures are attributed to the
// API key that caused them: one key's failures count at most half toward the breaker all keys
// share, and open a breaker of that key's own instead. An upstream that fails everyone still
// opens the shared breaker.
import { beforeAll, describe, expect, it } from "vitest";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { jsonBoundsFailure, MAX_SCHEMA_DEPTH } from "../../schema/json-bounds.ts";
import { admin, chat, expectStatus, uid } from "../gateway/helpers.ts";
import { ask, calls, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
let victim: string;
beforeAll(async () => {
  t = await makeRouterTenant();
  victim = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "victim" }), 201).body.key as string;
});

// {"type":"object","properties":{"a":{...}}} nested `levels` deep.
function nestedSchema(levels: number): Record<string, unknown> {
  let schema: Record<string, unknown> = { type: "string" };
  for (let i = 0; i < levels; i++) schema = { type: "object", properties: { a: schema } };
  return schema;
}

const noRetry = { attempts: 1, base_ms: 1, max_ms: 10, budget_ms: 5000 };
const breaker = { failures: 3, open_ms: 60_000 };
const settle = () => new Promise((r) => setTimeout(r, 50));

async function sharedBreaker(name: string) {
  const res = expectStatus(await admin(t.owner, "GET", `/router-config/breakers?tenant_id=${t.tenantId}&model=${name}`), 200);
  return res.body.data.find((b: { path: string }) => b.path === name);
}

describe("nested JSON schemas", () => {
  it("refuses one key's 1,000-level response_format schemas with 400 before the upstream; another key is still served", async () => {
    const scn = await scenario({ mode: "ok" });
    const name = uid("schema");
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), retry: noRetry, breaker } } });
    const attack = { model: name, ...ask(), response_format: { type: "json_schema", json_schema: { name: "deep", schema: nestedSchema(1_000) } } };
    for (let i = 0; i < 6; i++) {
      const res = await chat(t.key, attack);
      expect(res.status).toBe(400);
      expect(res.body.error.param).toBe("response_format.json_schema.schema");
      expect(res.body.error.message).toContain(`deeper than ${MAX_SCHEMA_DEPTH} levels`);
    }
    expect((await calls(scn)).total).toBe(0);
    const served = await chat(victim, { model: name, ...ask() });
    expect(served.status).toBe(200);
    expect((await sharedBreaker(name)).phase).toBe("closed");
  });

  it("bounds tool parameters, and anything nested in a passed-through field, the same way", async () => {
    const tools = await chat(t.key, { model: "fake-echo", ...ask(), tools: [{ type: "function", function: { name: "f", parameters: nestedSchema(100) } }] });
    expect(tools.status).toBe(400);
    expect(tools.body.error.param).toBe("tools[0].function.parameters");
    const wide = { type: "integer", enum: new Array(10_001).fill(0) };
    const big = await chat(t.key, { model: "fake-echo", ...ask(), response_format: { type: "json_schema", json_schema: { name: "wide", schema: wide } } });
    expect(big.status).toBe(400);
    expect(big.body.error.message).toContain("more than 10000 values");
    const hidden = await chat(t.key, { model: "fake-echo", messages: [{ role: "user", content: "hi", extra: nestedSchema(200) }] });
    expect(hidden.status).toBe(400);
    expect(hidden.body.error.param).toBe("messages");
    // A realistic schema (OpenAI allows 10 levels) passes.
    const fine = await chat(t.key, { model: "fake-echo", ...ask(), response_format: { type: "json_schema", json_schema: { name: "ok", schema: nestedSchema(10) } } });
    expect(fine.status).toBe(200);
  });

  it("checks depth without recursion: a 100,000-level document does not overflow the stack", () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonBoundsFailure(deep, MAX_SCHEMA_DEPTH)).toMatchObject({ message: `nests deeper than ${MAX_SCHEMA_DEPTH} levels` });
    const parsed = chatCompletionRequest.safeParse({ model: "m", ...ask(), response_format: { type: "json_schema", json_schema: { name: "d", schema: { a: deep } } } });
    expect(parsed.success).toBe(false);
  });
});

describe("breaker fairness between API keys", () => {
  it("one key's upstream 500s open only that key's own breaker; the other key keeps being served", async () => {
    const scn = await scenario({ fail_if_text: "poison", status: 500 });
    const name = uid("fair");
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), retry: noRetry, breaker } } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await chat(t.key, { model: name, ...ask("poison pill") });
      statuses.push(res.status);
      await settle();
      // The victim's requests, interleaved with the attack, all succeed.
      expect((await chat(victim, { model: name, ...ask("hello") })).status).toBe(200);
      await settle();
    }
    // Three failures reach the upstream (502), then the attacker's own breaker refuses it.
    expect(statuses).toEqual([502, 502, 502, 503, 503, 503]);
    expect((await calls(scn)).total).toBe(3 + 6);
    const paused = await chat(t.key, { model: name, ...ask("poison pill") });
    expect(paused.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}:caller_breaker_open`);
    expect(await sharedBreaker(name)).toMatchObject({ phase: "closed", callers_open: 1 });
    for (let i = 0; i < 3; i++) expect((await chat(victim, { model: name, ...ask("hello") })).status).toBe(200);
  });

  it("without interleaved successes, one key alone still cannot open the shared breaker", async () => {
    const scn = await scenario({ mode: "fail", status: 500 });
    const name = uid("fair-alone");
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), retry: noRetry, breaker } } });
    for (let i = 0; i < 6; i++) {
      await chat(t.key, { model: name, ...ask() });
      await settle();
    }
    expect((await sharedBreaker(name)).phase).toBe("closed");
    // The other key reaches the (still failing) upstream instead of a 503 from the breaker.
    const other = await chat(victim, { model: name, ...ask() });
    expect(other.status).toBe(502);
    expect(other.body.error.code).toBe("upstream_error");
  });

  it("an upstream that fails every key opens the shared breaker", async () => {
    const scn = await scenario({ mode: "fail", status: 500 });
    const name = uid("fair-down");
    await setConfig(t, { routes: { [name]: { tree: target(`fake-scn-${scn}`), retry: noRetry, breaker } } });
    for (const key of [t.key, victim, t.key]) {
      expect((await chat(key, { model: name, ...ask() })).status).toBe(502);
      await settle();
    }
    expect((await sharedBreaker(name)).phase).toBe("open");
    const refused = await chat(victim, { model: name, ...ask() });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}:breaker_open`);
    expect((await calls(scn)).total).toBe(3);
  });
});
