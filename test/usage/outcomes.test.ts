// Usage events record how a call ended, not only what it spent: rate-limit refusals (no tokens,
// the key and the code), and a fallback (every attempt counted, why the first target was passed
// over, the target that served it and its prices).
import { beforeAll, describe, expect, it } from "vitest";
import { admin, chat, expectStatus, uid } from "../gateway/helpers.ts";
import { ask, makeRouterTenant, setConfig, target, type RouterTenant } from "../router/helpers.ts";
import { usageRowsFor } from "./helpers.ts";

let t: RouterTenant;
beforeAll(async () => {
  t = await makeRouterTenant();
});

describe("usage events record the outcome", () => {
  it("a request refused by the key's rate limit: 429, rate_limit_exceeded, no tokens, no cost", async () => {
    const k = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "limited" }), 201).body as { key: string; id: string };
    await setConfig(t, { keys: { [k.id]: { limits: { requests_per_min: 1 } } } });
    const [first, second] = [uid("req-lim-a"), uid("req-lim-b")];
    expect((await chat(k.key, { model: "fake-echo", ...ask() }, { "x-request-id": first })).status).toBe(200);
    expect((await chat(k.key, { model: "fake-echo", ...ask() }, { "x-request-id": second })).status).toBe(429);
    const [served] = await usageRowsFor(first);
    const [refused] = await usageRowsFor(second);
    expect(served).toMatchObject({ key_id: k.id, status: 200, input_tokens: 11, output_tokens: 3 });
    expect(refused).toMatchObject({
      key_id: k.id,
      status: 429,
      error_class: "rate_limit_exceeded",
      input_tokens: 0,
      output_tokens: 0,
      cost_micro_usd: 0,
      attempts: 0,
      provider: null,
      target: null,
    });
    await setConfig(t, {});
  });

  it("a fallback: both attempts, the reason, and the serving target's tokens at its prices", async () => {
    const name = uid("fb");
    await setConfig(t, {
      routes: {
        [name]: {
          tree: {
            type: "fallback",
            children: [target("fake-status-503", { id: "down" }), target("fake-echo", { id: "up", input_price_per_mtok: 2, output_price_per_mtok: 8 })],
          },
          retry: { attempts: 1 },
        },
      },
    });
    const requestId = uid("req-fb");
    const res = await chat(t.key, { model: name, ...ask() }, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    const [row] = await usageRowsFor(requestId);
    expect(row).toMatchObject({ model: name, status: 200, upstream_model: "fake-echo", input_tokens: 11, output_tokens: 3, attempts: 2 });
    expect(row!.target).toBe(res.headers.get("x-edgeclaw-target"));
    expect(JSON.parse(row!.fallbacks!)).toEqual(res.headers.get("x-edgeclaw-fallback-reason")!.split(", "));
    expect(row!.fallbacks).toContain("down");
    expect(row!.cost_micro_usd).toBeCloseTo(11 * 2 + 3 * 8, 9);
    await setConfig(t, {});
  });
});
