// Two guards between the API families: a Messages request's own body (what an Anthropic target
// receives as it is) is part of its cache key, so two requests whose chat view is the same but
// whose Anthropic bodies differ are never answered with each other's entry; and an agent whose
// model is an embedding model is refused before anything is reserved or sent.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { callModel } from "../../workers/agents/model-call.ts";
import { ApiError } from "../../workers/http/errors.ts";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";
import { admin, call, expectStatus, uid } from "./helpers.ts";

let t: RouterTenant;

beforeAll(async () => {
  t = await makeRouterTenant();
});

function messages(key: string, body: Record<string, unknown>) {
  return call("POST", "/v1/messages", { bearer: key, body, headers: { "anthropic-version": "2023-06-01" } });
}

describe("the Messages ingress and the response cache", () => {
  it("keys a cached answer by the Anthropic body, not only by its chat view", async () => {
    const route = uid("claude-cached");
    await setConfig(t, { routes: { [route]: { tree: { type: "target", provider: "claude", model: "claude-test" }, cache: { ttl_s: 60 } } } });
    const text = (extra: Record<string, unknown>) => ({ type: "text", text: "hello", ...extra });
    const body = (block: Record<string, unknown>) => ({ model: route, max_tokens: 32, temperature: 0, messages: [{ role: "user", content: [block] }] });

    const first = await messages(t.key, body(text({})));
    expect(first.status).toBe(200);
    expect(first.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    expect((await messages(t.key, body(text({})))).headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    // cache_control is dropped by the chat translation, but an Anthropic target gets it: a
    // different request, so a miss.
    const marked = await messages(t.key, body(text({ cache_control: { type: "ephemeral" } })));
    expect(marked.status).toBe(200);
    expect(marked.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
  });
});

describe("an agent's model call", () => {
  it("refuses an embedding model with unsupported_model", async () => {
    const name = uid("embedder");
    expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: name, provider_id: t.providerId, upstream_model: "fake-embed", kind: "embedding" }), 201);
    const err = await callModel(env, {
      tenantId: t.tenantId,
      agentId: "agt_guard",
      model: name,
      messages: [{ role: "user", content: "hello" }],
      maxTokens: 16,
      requestId: uid("req"),
      sessionKey: "s",
      waitUntil: () => {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe("unsupported_model");
    expect((err as ApiError).status).toBe(400);
  });
});

describe("POST /v1/messages/count_tokens", () => {
  it("counts an upstream count against the key's request limit, and refuses an embedding model", async () => {
    const own = await makeRouterTenant();
    await setConfig(own, {
      keys: { [own.keyId]: { limits: { requests_per_min: 1 } } },
      routes: { claude: { tree: { type: "target", provider: "claude", model: "claude-test" } } },
    });
    const body = { model: "claude", messages: [{ role: "user", content: "count me" }] };
    const headers = { "anthropic-version": "2023-06-01" };
    const first = await call("POST", "/v1/messages/count_tokens", { bearer: own.key, body, headers });
    expect(first.status).toBe(200);
    expect(first.headers.get("x-edgeclaw-token-count")).toBe("upstream");
    const second = await call("POST", "/v1/messages/count_tokens", { bearer: own.key, body, headers });
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });

    const name = uid("embedder");
    expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: name, provider_id: t.providerId, upstream_model: "fake-embed", kind: "embedding" }), 201);
    const refused = await call("POST", "/v1/messages/count_tokens", { bearer: t.key, body: { ...body, model: name }, headers });
    expect(refused.status).toBe(400);
    expect(refused.body.error.type).toBe("invalid_request_error");
  });
});
