// POST /v1/embeddings through the official openai client (inside workerd, against the real Worker
// and the fake upstream's /v1/embeddings): float and base64 vectors compared with what the fake
// computes, token-id inputs, dimensions, batch limits, the exact cache, limits, fallbacks and the
// breaker, the model kind checks, and the Workers AI binding's embedding models.
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { embeddingRequest } from "../../schema/embeddings.ts";
import type { Env } from "../../workers/env.ts";
import { GatewayTiming } from "../../workers/http/timing.ts";
import { bindOperation, isRefusal, type Operation } from "../../workers/router/operations/index.ts";
import { decodeFloats } from "../../workers/router/operations/embeddings.ts";
import { workersAi } from "../../workers/router/providers/workers-ai.ts";
import { completeUpstream, UpstreamError } from "../../workers/router/upstream.ts";
import { fakeVector } from "../fakes/embeddings-upstream.ts";
import { calls, makeRouterTenant, scenario, setConfig, target, type RouterTenant } from "../router/helpers.ts";
import { admin, call, chat, expectStatus, openaiClient, recordedUpstreamRequest, uid } from "./helpers.ts";

let t: RouterTenant;
let client: OpenAI;
let failing: string;
const limited = { key: "", id: "" };

const openai = (key: string) => openaiClient(key);

beforeAll(async () => {
  t = await makeRouterTenant();
  for (const [name, upstream, providerId] of [
    ["embed", "fake-embed", t.providerId],
    ["embed-floats", "fake-embed-floats", t.providerId],
    ["embed-no-usage", "fake-embed-no-usage", t.providerId],
    ["embed-short", "fake-embed-short", t.providerId],
    ["claude-embed", "claude-embed", t.claudeId],
  ] as const) {
    expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: name, provider_id: providerId, upstream_model: upstream, kind: "embedding", input_price_per_mtok: 0.02 }), 201);
  }
  const key = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "limited" }), 201);
  limited.key = key.body.key;
  limited.id = key.body.id;
  failing = await scenario({ mode: "fail", status: 500 });
  await setConfig(t, {
    routes: {
      "embed-fallback": {
        tree: { type: "fallback", children: [target(`fake-scn-${failing}`, { id: "down" }), target("fake-embed", { id: "up" })] },
        retry: { attempts: 1 },
        breaker: { failures: 2, open_ms: 60_000 },
      },
      // Anthropic has no embeddings API: that target is skipped.
      "embed-claude-first": { tree: { type: "fallback", children: [{ type: "target", id: "a", provider: "claude", model: "claude-test" }, target("fake-embed", { id: "b" })] } },
      "embed-nocache": { tree: target("fake-embed"), cache: { ttl_s: 0 } },
    },
    keys: { [limited.id]: { limits: { requests_per_min: 2 } } },
  });
  client = openai(t.key);
});

const near = (actual: number[], expected: number[]) => {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 6));
};

describe("POST /v1/embeddings", () => {
  it("answers float vectors, the upstream's usage, and sends the upstream model id", async () => {
    const requestId = uid("req-emb");
    const { data, response } = await client.embeddings
      .create({ model: "embed", input: ["hello world", "bonjour"], encoding_format: "float" }, { headers: { "x-request-id": requestId } })
      .withResponse();
    expect(data.object).toBe("list");
    expect(data.model).toBe("fake-embed");
    expect(data.data.map((d) => d.index)).toEqual([0, 1]);
    near(data.data[0]?.embedding as number[], fakeVector("hello world"));
    near(data.data[1]?.embedding as number[], fakeVector("bonjour"));
    // The fake counts words: the upstream's usage, not the gateway's estimate.
    expect(data.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(response.headers.get("x-edgeclaw-model")).toBe("embed");
    expect(response.headers.get("x-edgeclaw-upstream-model")).toBe("fake-embed");
    const seen = await recordedUpstreamRequest(requestId);
    expect(seen.body).toEqual({ model: "fake-embed", input: ["hello world", "bonjour"], encoding_format: "float" });
    expect(seen.authorization).toBe(`Bearer ${env.PROVIDER_FAKE_KEY}`);
  });

  it("answers base64 (the SDK's default, decoded by it) and raw base64 strings that decode to the same floats", async () => {
    const decoded = await client.embeddings.create({ model: "embed", input: "base64 please" });
    near(decoded.data[0]?.embedding as number[], fakeVector("base64 please"));
    const raw = await client.embeddings.create({ model: "embed", input: "base64 raw", encoding_format: "base64" });
    const text = raw.data[0]?.embedding as unknown as string;
    expect(typeof text).toBe("string");
    near(decodeFloats(text) as number[], fakeVector("base64 raw"));
  });

  it("encodes base64 itself when the upstream ignores encoding_format, and estimates usage when it reports none", async () => {
    const raw = await client.embeddings.create({ model: "embed-floats", input: "floats upstream", encoding_format: "base64" });
    near(decodeFloats(raw.data[0]?.embedding as unknown as string) as number[], fakeVector("floats upstream"));
    const estimated = await client.embeddings.create({ model: "embed-no-usage", input: "x".repeat(40), encoding_format: "float" });
    expect(estimated.usage).toEqual({ prompt_tokens: 10, total_tokens: 10 });
  });

  it("takes token-id inputs and dimensions", async () => {
    const requestId = uid("req-emb-tok");
    const res = await client.embeddings.create({ model: "embed", input: [[1, 2, 3], [40, 50]], dimensions: 4, encoding_format: "float" }, { headers: { "x-request-id": requestId } });
    near(res.data[0]?.embedding as number[], fakeVector([1, 2, 3], 4));
    near(res.data[1]?.embedding as number[], fakeVector([40, 50], 4));
    expect(res.usage.prompt_tokens).toBe(5);
    expect((await recordedUpstreamRequest(requestId)).body.dimensions).toBe(4);
  });

  it("serves an identical second call from the exact cache without calling upstream", async () => {
    const input = `cache me ${uid()}`;
    const first = await client.embeddings.create({ model: "embed", input, encoding_format: "float" }, { headers: { "x-request-id": uid("req-c1") } }).withResponse();
    expect(first.response.headers.get("x-edgeclaw-cache-status")).toBe("MISS");
    const secondId = uid("req-c2");
    const second = await client.embeddings.create({ model: "embed", input, encoding_format: "float" }, { headers: { "x-request-id": secondId } }).withResponse();
    expect(second.response.headers.get("x-edgeclaw-cache-status")).toBe("HIT");
    expect(second.data).toEqual(first.data);
    await expect(recordedUpstreamRequest(secondId)).rejects.toThrow(/recorded no request/);
    // A route that turns the cache off is asked every time.
    const off = await client.embeddings.create({ model: "embed-nocache", input, encoding_format: "float" }).withResponse();
    expect(off.response.headers.get("x-edgeclaw-cache-status")).toBe("BYPASS");
  });

  it("applies the key's rate limit (429 once it is spent)", async () => {
    const limitedClient = openai(limited.key);
    for (let i = 0; i < 2; i++) await limitedClient.embeddings.create({ model: "embed", input: `limit ${i} ${uid()}` });
    const err = await limitedClient.embeddings.create({ model: "embed", input: `limit 3 ${uid()}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe("rate_limit_exceeded");
  });

  it("falls over from a failing target, and opens its breaker", async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) {
      answers.push(await client.embeddings.create({ model: "embed-fallback", input: `fall ${i} ${uid()}`, encoding_format: "float" }).withResponse());
    }
    for (const a of answers) {
      expect(a.data.data).toHaveLength(1);
      expect(a.response.headers.get("x-edgeclaw-target")).toBe("embed-fallback/up");
    }
    expect(answers[0]?.response.headers.get("x-edgeclaw-fallback-reason")).toBe("embed-fallback/down:server_error");
    // Two failures opened it: the third call did not reach the failing target.
    // (the calling key's own breaker opens first: state/breaker.ts)
    expect(answers[2]?.response.headers.get("x-edgeclaw-fallback-reason")).toMatch(/^embed-fallback\/down:(caller_)?breaker_open$/);
    expect((await calls(failing)).total).toBe(2);
  });

  it("skips a target whose provider has no embeddings API, and says why when none has one", async () => {
    const served = await client.embeddings.create({ model: "embed-claude-first", input: "skip claude", encoding_format: "float" }).withResponse();
    expect(served.response.headers.get("x-edgeclaw-target")).toBe("embed-claude-first/b");
    expect(served.response.headers.get("x-edgeclaw-fallback-reason")).toBe("embed-claude-first/a:unsupported_operation");
    const res = await call("POST", "/v1/embeddings", { bearer: t.key, body: { model: "claude-embed", input: "hi" } });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: "unsupported_operation", type: "invalid_request_error" });
    expect(res.body.error.message).toContain("'claude-embed'");
    expect(res.body.error.message).toContain("no embeddings API");
  });

  it("answers an upstream answer with a vector missing with 502", async () => {
    const res = await call("POST", "/v1/embeddings", { bearer: t.key, body: { model: "embed-short", input: ["a", "b"] } });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_bad_response");
  });
});

describe("model kinds", () => {
  it("refuses a chat model on /v1/embeddings and an embedding model on /v1/chat/completions", async () => {
    const wrong = await call("POST", "/v1/embeddings", { bearer: t.key, body: { model: "fake-echo", input: "hi" } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error).toMatchObject({ code: "unsupported_model", param: "model", type: "invalid_request_error" });
    expect(wrong.body.error.message).toContain("chat model");
    const chatted = await chat(t.key, { model: "embed", messages: [{ role: "user", content: "hi" }] });
    expect(chatted.status).toBe(400);
    expect(chatted.body.error).toMatchObject({ code: "unsupported_model", param: "model" });
    expect(chatted.body.error.message).toContain("embedding model");
  });

  it("lets the admin API change a model's kind", async () => {
    const created = expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: `k-${uid()}`, provider_id: t.providerId, upstream_model: "fake-embed" }), 201);
    expect(created.body.kind).toBe("chat");
    const changed = expectStatus(await admin(t.owner, "PATCH", `/models/${created.body.id}`, { kind: "embedding" }), 200);
    expect(changed.body.kind).toBe("embedding");
    const res = await client.embeddings.create({ model: created.body.public_name, input: "now an embedding model", encoding_format: "float" });
    near(res.data[0]?.embedding as number[], fakeVector("now an embedding model"));
    expect((await admin(t.owner, "PATCH", `/models/${created.body.id}`, { kind: "vision" })).status).toBe(400);
  });
});

describe("bad input", () => {
  const cases: [string, Record<string, unknown>, string, string | null][] = [
    ["no input", { model: "embed" }, "invalid_value", "input"],
    ["an empty string", { model: "embed", input: "" }, "invalid_value", "input"],
    ["an empty batch", { model: "embed", input: [] }, "invalid_value", "input"],
    ["an unknown encoding", { model: "embed", input: "a", encoding_format: "hex" }, "invalid_value", "encoding_format"],
    ["dimensions 0", { model: "embed", input: "a", dimensions: 0 }, "invalid_value", "dimensions"],
    ["a misspelt field", { model: "embed", input: "a", dimension: 4 }, "unknown_parameter", "dimension"],
    ["more inputs than a batch may hold", { model: "embed", input: Array.from({ length: 2049 }, () => "a") }, "invalid_value", "input"],
    ["a negative token id", { model: "embed", input: [1, -2] }, "invalid_value", "input[1]"],
  ];
  for (const [what, body, code, param] of cases) {
    it(`answers 400 in OpenAI's shape for ${what}`, async () => {
      const res = await call("POST", "/v1/embeddings", { bearer: t.key, body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: "invalid_request_error", code });
      expect(res.body.error.param ?? null).toBe(param);
      if (what.startsWith("more inputs")) expect(res.body.error.message).toContain("at most 2048");
    });
  }

  it("limits a batch by its estimated tokens too", () => {
    const parsed = embeddingRequest.safeParse({ model: "embed", input: Array.from({ length: 40 }, () => "x".repeat(40_000)) });
    expect(parsed.success).toBe(false);
    expect(JSON.stringify(parsed.error?.issues)).toContain("at most 300000");
  });

  it("refuses a key without chat:write", async () => {
    const reader = expectStatus(await admin(t.owner, "POST", "/api-keys", { tenant_id: t.tenantId, name: "reader", scopes: ["models:read"] }), 201);
    const res = await call("POST", "/v1/embeddings", { bearer: reader.body.key, body: { model: "embed", input: "a" } });
    expect(res.status).toBe(403);
  });
});

// The AI binding is absent in tests: a stand-in for its run() answers as Workers AI's embedding
// models document ({shape, data}).
describe("Workers AI embeddings", () => {
  const operation = (body: Record<string, unknown>): Operation => {
    const request = embeddingRequest.parse({ model: "wai-embed", ...body });
    return { name: "embeddings", request, promptTokens: 1 };
  };
  const run = async (body: Record<string, unknown>, ai: Env["AI"]) => {
    const bound = bindOperation("workers-ai", operation(body));
    if (isRefusal(bound)) throw new Error(bound.message);
    return completeUpstream({
      adapter: workersAi,
      op: bound,
      ctx: { request: { model: "wai-embed", messages: [{ role: "user", content: "" }] }, target: { baseUrl: "binding:AI", model: "@cf/baai/bge-small-en-v1.5", credential: undefined } },
      env: { ...env, AI: ai } as Env,
      firstByteMs: 5_000,
      idleMs: 5_000,
      requestId: uid("req-wai"),
      timing: new GatewayTiming(),
      maxResponseBytes: 1024 * 1024,
      maxEventBytes: 1024 * 1024,
    });
  };

  it("sends {text} to the binding and answers OpenAI's list, base64 encoded by the gateway when asked", async () => {
    const seen: { model: string; inputs: Record<string, unknown> }[] = [];
    const ai = { run: async (model: string, inputs: Record<string, unknown>) => (seen.push({ model, inputs }), { shape: [2, 3], data: [[0.5, -0.25, 1], [0, 0.125, -1]] }) };
    const floats = await run({ input: ["a b", "c"], encoding_format: "float" }, ai);
    expect(seen[0]).toEqual({ model: "@cf/baai/bge-small-en-v1.5", inputs: { text: ["a b", "c"] } });
    expect(floats.answer).toMatchObject({ object: "list", model: "@cf/baai/bge-small-en-v1.5", data: [{ index: 0, embedding: [0.5, -0.25, 1] }, { index: 1, embedding: [0, 0.125, -1] }] });
    // No usage from the binding: the gateway's estimate (1 token per 4 characters, rounded up).
    expect(floats.answer.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    const encoded = await run({ input: ["a b", "c"], encoding_format: "base64" }, ai);
    const data = encoded.answer.data as { embedding: string }[];
    expect(decodeFloats(data[0]?.embedding as string)).toEqual([0.5, -0.25, 1]);
    expect(decodeFloats(data[1]?.embedding as string)).toEqual([0, 0.125, -1]);
  });

  it("turns a binding failure into an upstream error", async () => {
    const ai = { run: async () => Promise.reject(new Error("3040: Capacity temporarily exceeded")) };
    const err = await run({ input: "x" }, ai).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).errorClass).toBe("rate_limited");
  });

  it("refuses token ids and dimensions, which the binding cannot take", () => {
    for (const body of [{ input: [1, 2, 3] }, { input: "x", dimensions: 8 }]) {
      const bound = bindOperation("workers-ai", operation(body));
      expect(isRefusal(bound)).toBe(true);
    }
    const none = bindOperation("anthropic", operation({ input: "x" }));
    expect(isRefusal(none) && none.code).toBe("unsupported_operation");
  });
});
