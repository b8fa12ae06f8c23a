// The hot path reads keys and model config from the isolate cache, not D1. Changes made behind
// the Worker's back (straight in D1, as another isolate's admin call would look from here) show
// up after the TTL; changes made through this isolate's admin API show up at once.
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashApiKey } from "../../workers/auth/api-keys.ts";
import { admin, call, expectStatus, makeTenant } from "./helpers.ts";

const TTL_MS = 30_000; // wrangler.jsonc CACHE_TTL_MS

afterEach(() => {
  vi.useRealTimers();
});

// Model config comes from the router's compiled routing, which an isolate that sat idle past the
// TTL reloads within a grace of 5 s (routing.ts REVOCATION_GRACE_MS); before that it reloads in
// the background and answers from the entry it has.
const ROUTING_GRACE_MS = 5_000;

function advancePastTtl(extraMs = 0): void {
  vi.useFakeTimers({ toFake: ["Date"] });
  vi.setSystemTime(Date.now() + TTL_MS + extraMs + 1_000);
}

describe("isolate cache of API keys and model config", () => {
  it("keeps serving a cached key without D1 until the TTL, then sees the revocation", async () => {
    const t = await makeTenant();
    expect((await call("GET", "/v1/models", { bearer: t.key })).status).toBe(200);
    await env.DB.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ?").bind(Date.now(), t.keyId).run();
    // Still cached: this answer cannot have come from D1, where the key is now revoked.
    expect((await call("GET", "/v1/models", { bearer: t.key })).status).toBe(200);
    advancePastTtl();
    expect((await call("GET", "/v1/models", { bearer: t.key })).status).toBe(401);
  });

  it("caches unknown keys too, so repeated wrong keys do not reach D1 each time", async () => {
    const t = await makeTenant();
    const key = `sk-edgeclaw-${crypto.randomUUID()}`;
    expect((await call("GET", "/v1/models", { bearer: key })).status).toBe(401);
    await env.DB.prepare(
      "INSERT INTO api_keys (id, tenant_id, name, key_hash, prefix, scopes, created_at) VALUES (?, ?, 'raw', ?, 'sk-edgeclaw-', ?, ?)",
    )
      .bind(`key_raw_${crypto.randomUUID()}`, t.tenantId, await hashApiKey(key), JSON.stringify(["models:read", "chat:write"]), Date.now())
      .run();
    expect((await call("GET", "/v1/models", { bearer: key })).status).toBe(401);
    advancePastTtl();
    expect((await call("GET", "/v1/models", { bearer: key })).status).toBe(200);
  });

  it("caches a tenant's models: a direct D1 change shows after the TTL, an admin change at once", async () => {
    const t = await makeTenant();
    const names = async () => ((await call("GET", "/v1/models", { bearer: t.key })).body.data as { id: string }[]).map((m) => m.id);
    expect(await names()).toContain("house-model");

    await env.DB.prepare("UPDATE models SET enabled = 0 WHERE tenant_id = ? AND public_name = 'house-model'").bind(t.tenantId).run();
    expect(await names()).toContain("house-model");
    advancePastTtl(ROUTING_GRACE_MS);
    expect(await names()).not.toContain("house-model");

    const listed = expectStatus(await admin(t.owner, "GET", `/models?tenant_id=${t.tenantId}`), 200);
    const echo = (listed.body.data as { id: string; public_name: string }[]).find((m) => m.public_name === "fake-echo")!;
    expectStatus(await admin(t.owner, "POST", `/models/${echo.id}/revoke`), 200);
    expect(await names()).not.toContain("fake-echo");
  });
});
