// Issue 10, item 14: QoS statistics (EWMAs of latency and error rate that scale a weighted node's
// weights) were keyed by target path alone, so two tenants with the same route names shared them
// in an isolate: tenant A's failing target lost weight in tenant B's routing too. They are keyed
// by tenant and path now.
import { describe, expect, it } from "vitest";
import { effectiveWeights, recordFailure, recordSuccess } from "../../workers/router/qos.ts";
import { chat, makeTenant, uid } from "../gateway/helpers.ts";
import { ask, scenario, setConfig, target } from "./helpers.ts";

describe("QoS statistics per tenant", () => {
  it("failures of tenant A's target do not change tenant B's selection on a route of the same name", async () => {
    const [a, b] = await Promise.all([makeTenant(), makeTenant()]);
    const route = uid("shared");
    const failing = await scenario({ mode: "fail", status: 500 });
    const healthy = await scenario({ mode: "ok" });
    const tree = (model: string) => ({ type: "weighted", children: [target(model, { id: "x" }), target("fake-echo", { id: "y" })] });
    // Same route name and target paths (<route>/x, <route>/y) in both tenants; only A's x fails.
    await setConfig(a, { routes: { [route]: { tree: tree(`fake-scn-${failing}`), retry: { attempts: 1, base_ms: 1, max_ms: 10, budget_ms: 5000 }, breaker: { failures: 10_000, failure_rate: 1, min_requests: 100_000 } } } });
    await setConfig(b, { routes: { [route]: { tree: tree(`fake-scn-${healthy}`) } } });
    // A's x fails whenever it is tried (then y answers): its error rate climbs towards 1.
    for (let i = 0; i < 60; i++) expect((await chat(a.key, { model: route, ...ask() })).status).toBe(200);
    // Shared statistics would give B's x about 2% of the traffic (the floor); its own, ~50%.
    const served = await Promise.all(Array.from({ length: 40 }, () => chat(b.key, { model: route, ...ask() })));
    const onX = served.filter((r) => r.headers.get("x-edgeclaw-target") === `${route}/x`).length;
    expect(served.every((r) => r.status === 200)).toBe(true);
    // P(fewer than 8 of 40 at p = 0.5) < 1e-5.
    expect(onX).toBeGreaterThanOrEqual(8);
    // 100 requests on a shared CPU: a generous test timeout, not a timing claim.
  }, 60_000);

  it("keeps each tenant's EWMAs apart for the same path", () => {
    const path = uid("route");
    for (let i = 0; i < 20; i++) {
      recordSuccess("tenant-a", `${path}/x`, 50, 150, 100);
      recordFailure("tenant-a", `${path}/x`);
    }
    const [aX] = effectiveWeights("tenant-a", [{ path: `${path}/x`, weight: 1 }, { path: `${path}/y`, weight: 1 }]);
    const [bX, bY] = effectiveWeights("tenant-b", [{ path: `${path}/x`, weight: 1 }, { path: `${path}/y`, weight: 1 }]);
    expect(aX).toBeLessThan(0.5);
    expect(bX).toBe(1);
    expect(bY).toBe(1);
  });
});
