// Fallbacks by error class, retries with backoff and Retry-After, first-byte timeouts, and
// streams that never switch target once they have sent bytes; the headers that say so.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, chat, expectStatus, uid } from "../gateway/helpers.ts";
import { ask, calls, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

const fast = { attempts: 2, base_ms: 10, max_ms: 1500, budget_ms: 8000 };

async function route(tree: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const name = uid("route");
  await setConfig(t, { routes: { [name]: { tree, retry: fast, ...extra } } });
  return name;
}

describe("fallbacks", () => {
  it("falls back on 5xx after retrying, and says which target served, after how many attempts and why", async () => {
    const bad = await scenario({ mode: "fail", status: 503 });
    const name = await route({ type: "fallback", children: [target(`fake-scn-${bad}`, { id: "primary" }), target("fake-echo", { id: "backup" })] });
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(200);
    expect(res.body.choices[0].message.content).toBe("echo: hello");
    expect(res.headers.get("x-edgeclaw-target")).toBe(`${name}/backup`);
    expect(res.headers.get("x-edgeclaw-attempts")).toBe("3");
    expect(res.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/primary:server_error, ${name}/primary:server_error`);
    expect(res.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/); // present, milliseconds with 2 decimals
    expect((await calls(bad)).total).toBe(2);
  });

  it("retries the same target after a short Retry-After and succeeds there", async () => {
    const flaky = await scenario({ fail_first: 1, status: 429, retry_after: "1" });
    const name = await route({ type: "fallback", children: [target(`fake-scn-${flaky}`, { id: "a" }), target("fake-echo", { id: "b" })] });
    const started = Date.now();
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-target")).toBe(`${name}/a`);
    expect(res.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/a:rate_limited`);
    // Retry-After: 1 was honoured (not the 10 ms backoff).
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("does not wait for a Retry-After beyond the longest wait, and falls over instead", async () => {
    const limited = await scenario({ mode: "fail", status: 429, retry_after: "30" });
    const name = await route({ type: "fallback", children: [target(`fake-scn-${limited}`, { id: "a" }), target("fake-echo", { id: "b" })] });
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-target")).toBe(`${name}/b`);
    expect((await calls(limited)).total).toBe(1);
  });

  it("passes a 429 with its Retry-After to the client when nothing else can serve", async () => {
    const limited = await scenario({ mode: "fail", status: 429, retry_after: "30" });
    const name = await route(target(`fake-scn-${limited}`));
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("30");
  });

  it("times out to the first byte and falls back", async () => {
    const stall = await scenario({ mode: "stall" });
    const name = await route({ type: "fallback", children: [target(`fake-scn-${stall}`, { id: "slow", first_byte_timeout_ms: 300 }), target("fake-echo", { id: "ok" })] }, { retry: { ...fast, attempts: 1 } });
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/slow:timeout`);
  });

  it("falls back on connection errors", async () => {
    const name = await route({ type: "fallback", children: [{ ...target("fake-echo", { id: "down" }), provider: "dead" }, target("fake-echo", { id: "up" })] }).catch(() => null);
    // "dead" is not a provider of the tenant: the admin API refuses the config.
    expect(name).toBeNull();
    // Replicas are declared on a provider (by its owner); a second provider keeps "fake" plain.
    expectStatus(
      await admin(t.owner, "POST", "/providers", { tenant_id: t.tenantId, name: "gpu-down", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "PROVIDER_FAKE_KEY", replicas: [{ id: "r0", base_url: "http://127.0.0.1:9/v1" }] }),
      201,
    );
    const replicaDown = await route({ type: "fallback", children: [{ ...target("fake-echo", { id: "down", replicas: ["r0"] }), provider: "gpu-down" }, target("fake-echo", { id: "up" })] });
    const res = await chat(t.key, { model: replicaDown, ...ask() });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-fallback-reason")).toContain(`${replicaDown}/down@r0:connection`);
  });

  it("moves to a larger-context model on context_length_exceeded, from the estimate or from the upstream", async () => {
    const name = await route({
      type: "fallback",
      on: ["context_length"],
      children: [target("fake-echo", { id: "tiny", context_window: 20 }), target("fake-ctx-small", { id: "small" }), target("fake-echo", { id: "large", context_window: 100000 })],
    });
    const res = await chat(t.key, { model: name, ...ask("x".repeat(400)) });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-target")).toBe(`${name}/large`);
    expect(res.headers.get("x-edgeclaw-fallback-reason")).toBe(`${name}/tiny:context_length, ${name}/small:context_length`);
  });

  it("falls back on a content-policy refusal only where configured", async () => {
    const on = await route({ type: "fallback", on: ["content_policy"], children: [target("fake-policy", { id: "strict" }), target("fake-echo", { id: "lenient" })] });
    expect((await chat(t.key, { model: on, ...ask() })).headers.get("x-edgeclaw-target")).toBe(`${on}/lenient`);
    const off = await route({ type: "fallback", on: ["server_error"], children: [target("fake-policy", { id: "strict" }), target("fake-echo", { id: "lenient" })] });
    const refused = await chat(t.key, { model: off, ...ask() });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe("content_policy_violation");
  });

  it("never falls back on the client's own mistakes", async () => {
    const name = await route({ type: "fallback", children: [target("fake-status-400", { id: "a" }), target("fake-echo", { id: "b" })] });
    const res = await chat(t.key, { model: name, ...ask() });
    expect(res.status).toBe(400);
    expect(res.headers.get("x-edgeclaw-attempts")).toBe("1");
  });

  it("falls back before a stream's first byte, never after it", async () => {
    const down = await scenario({ mode: "fail", status: 500 });
    const before = await route({ type: "fallback", children: [target(`fake-scn-${down}`, { id: "a" }), target("fake-echo", { id: "b" })] });
    const ok = await chat(t.key, { model: before, stream: true, ...ask() });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain("[DONE]");
    expect(ok.headers.get("x-edgeclaw-target")).toBe(`${before}/b`);

    const after = await route({ type: "fallback", children: [target("fake-reset", { id: "a" }), target("fake-echo", { id: "b" })] });
    const cut = await chat(t.key, { model: after, stream: true, ...ask() });
    expect(cut.status).toBe(200);
    expect(cut.headers.get("x-edgeclaw-target")).toBe(`${after}/a`);
    expect(cut.body).toContain('"code":"upstream_stream_error"');
    expect(cut.body).not.toContain("echo: hello");
  });

  it("keeps the whole request inside the retry budget", async () => {
    const down = await scenario({ mode: "fail", status: 500 });
    const name = await route(target(`fake-scn-${down}`), { retry: { attempts: 10, base_ms: 400, max_ms: 400, budget_ms: 1000 } });
    const res = await chat(t.key, { model: name, ...ask() });
    // Given up inside the budget either way: 502 after the last failed attempt, or 504 when the
    // budget ran out during an attempt (a slow, loaded host: the attempt's timeout is what is left
    // of the budget).
    expect([502, 504]).toContain(res.status);
    const tries = (await calls(down)).total;
    expect(tries).toBeGreaterThanOrEqual(1);
    expect(tries).toBeLessThan(10);
  });
});
