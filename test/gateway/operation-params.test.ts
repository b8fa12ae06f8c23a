// strict_params and x-edgeclaw-dropped-params on the operations (completions, embeddings) judge
// the client's own body against that endpoint's parameters: a completions-only field (suffix,
// echo) is known there, a field no endpoint knows is refused under strict_params, and a provider
// kind that translates the operation to chat names the unknown fields it leaves out.
import { beforeAll, describe, expect, it } from "vitest";
import { makeRouterTenant, setConfig, type RouterTenant } from "../router/helpers.ts";
import { admin, call, expectStatus, recordedUpstreamRequest, uid } from "./helpers.ts";

let loose: RouterTenant;
let strict: RouterTenant;

async function withEmbeddingModel(t: RouterTenant): Promise<void> {
  expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: "embed", provider_id: t.providerId, upstream_model: "fake-embed", kind: "embedding" }), 201);
}

beforeAll(async () => {
  loose = await makeRouterTenant();
  await setConfig(loose, { routes: { claude: { tree: { type: "target", provider: "claude", model: "claude-test" } } } });
  strict = await makeRouterTenant();
  await withEmbeddingModel(strict);
  // Config-wide: every route of this tenant, the catalog's implicit ones included.
  await setConfig(strict, { strict_params: true, routes: { claude: { tree: { type: "target", provider: "claude", model: "claude-test" } } } });
});

const post = (t: RouterTenant, path: string, body: unknown, headers: Record<string, string> = {}) => call("POST", path, { bearer: t.key, body, headers });

describe("completions", () => {
  it("names the unknown fields a translating kind leaves out, and does not send them", async () => {
    const requestId = uid("req-op");
    const res = await post(loose, "/v1/completions", { model: "claude", prompt: "hi", top_a: 0.2, mirostat: 2 }, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-dropped-params")).toBe("mirostat,top_a");
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body).not.toHaveProperty("top_a");
    expect(seen.body).not.toHaveProperty("mirostat");
  });

  it("refuses unknown fields under strict_params and keeps completions-only fields known", async () => {
    const refused = await post(strict, "/v1/completions", { model: "fake-echo", prompt: "hi", top_k: 40 });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "unknown_parameter", param: "top_k" });
    const served = await post(strict, "/v1/completions", { model: "fake-echo", prompt: "def f(", suffix: "return x", echo: false });
    expect(served.status).toBe(200);
  });
});

describe("embeddings", () => {
  it("refuses unknown fields under strict_params and serves known ones", async () => {
    const refused = await post(strict, "/v1/embeddings", { model: "embed", input: "hi", input_type: "query" });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: "unknown_parameter", param: "input_type" });
    const served = await post(strict, "/v1/embeddings", { model: "embed", input: "hi", dimensions: 8, encoding_format: "float" });
    expect(served.status).toBe(200);
    expect(served.body.data[0].embedding).toHaveLength(8);
  });

  it("passes unknown fields to an OpenAI-compatible upstream without naming them dropped", async () => {
    await withEmbeddingModel(loose);
    const requestId = uid("req-emb");
    const res = await post(loose, "/v1/embeddings", { model: "embed", input: "hi", input_type: "query" }, { "x-request-id": requestId });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-edgeclaw-dropped-params")).toBeNull();
    expect((await recordedUpstreamRequest(requestId)).body).toMatchObject({ input_type: "query" });
  });
});
