// POST /v1/completions through the official openai client (inside workerd, against the real Worker):
// native on an OpenAI-compatible upstream (the fake's /v1/completions: body passed through, stream
// relayed), translated to a one-message chat call on Anthropic (answer and stream turned back into
// text_completion), suffix refused where it cannot be served, fallbacks, and bad input.
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { streamRecorder } from "../../workers/router/call.ts";
import { makeRouterTenant, setConfig, target, type RouterTenant } from "../router/helpers.ts";
import { admin, call, expectStatus, openaiClient, recordedUpstreamRequest, uid } from "./helpers.ts";

const claude = { type: "target", provider: "claude", model: "claude-test" };

let t: RouterTenant;
let client: OpenAI;

beforeAll(async () => {
  t = await makeRouterTenant();
  await setConfig(t, {
    routes: {
      claude: { tree: claude },
      "claude-or-open": { tree: { type: "fallback", children: [{ ...claude, id: "a" }, target("fake-echo", { id: "b" })] } },
    },
  });
  expectStatus(await admin(t.owner, "POST", "/models", { tenant_id: t.tenantId, public_name: "embed", provider_id: t.providerId, upstream_model: "fake-embed", kind: "embedding" }), 201);
  client = openaiClient(t.key);
});

async function collect(stream: AsyncIterable<OpenAI.Completion>) {
  const chunks: OpenAI.Completion[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return { chunks, text: chunks.map((c) => c.choices[0]?.text ?? "").join("") };
}

describe("OpenAI-compatible upstream (native /completions)", () => {
  it("passes the body through with the upstream model id and answers its text_completion", async () => {
    const requestId = uid("req-cmpl");
    const params = { model: "house-model", prompt: "Say this", max_tokens: 7, temperature: 0.5, stop: ["\n"], echo: false, logprobs: 2, top_k: 40 };
    const { data, response } = await client.completions.create(params as OpenAI.CompletionCreateParamsNonStreaming, { headers: { "x-request-id": requestId } }).withResponse();
    expect(data).toMatchObject({ object: "text_completion", model: "fake-echo", choices: [{ index: 0, text: "echo: Say this", finish_reason: "stop" }], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } });
    expect(response.headers.get("x-edgeclaw-upstream-model")).toBe("fake-echo");
    const seen = await recordedUpstreamRequest(requestId);
    // Unknown fields (top_k) reach the upstream unchanged.
    expect(seen.body).toEqual({ ...params, model: "fake-echo" });
  });

  it("relays a stream of text_completion chunks with the usage chunk", async () => {
    const stream = await client.completions.create({ model: "fake-echo", prompt: "stream me", stream: true, stream_options: { include_usage: true } });
    const { chunks, text } = await collect(stream);
    expect(text).toBe("echo: stream me");
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 });
  });

  it("carries suffix (fill in the middle), prompt batches and token ids", async () => {
    const fim = await client.completions.create({ model: "fake-echo", prompt: "def f(", suffix: "return x" });
    expect(fim.choices[0]?.text).toBe("echo: def f( [suffix: return x]");
    const batch = await client.completions.create({ model: "fake-echo", prompt: ["one", "two"] });
    expect(batch.choices.map((c) => c.text)).toEqual(["echo: one", "echo: two"]);
    const tokens = await client.completions.create({ model: "fake-echo", prompt: [1, 2, 3] });
    expect(tokens.choices[0]?.text).toBe("echo: 3 tokens");
  });
});

describe("Anthropic upstream (translated to chat)", () => {
  it("sends the prompt as one user message and answers a text_completion", async () => {
    const requestId = uid("req-cmpl-claude");
    const { data, response } = await client.completions
      .create({ model: "claude", prompt: "Say this", temperature: 0.3, stop: "END", seed: 4 }, { headers: { "x-request-id": requestId } })
      .withResponse();
    expect(data).toMatchObject({ object: "text_completion", model: "claude-test", choices: [{ index: 0, text: "echo: Say this", finish_reason: "stop", logprobs: null }], usage: { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 } });
    expect(data.id.startsWith("chatcmpl")).toBe(false);
    const seen = await recordedUpstreamRequest(requestId);
    // OpenAI's default of 16 tokens when the request names none.
    expect(seen.body).toEqual({ model: "claude-test", max_tokens: 16, temperature: 0.3, stop_sequences: ["END"], messages: [{ role: "user", content: [{ type: "text", text: "Say this" }] }] });
    expect(response.headers.get("x-edgeclaw-dropped-params")).toBe("seed");
  });

  it("streams text_completion chunks, with echo putting the prompt first", async () => {
    const stream = await client.completions.create({ model: "claude", prompt: "Hi there", stream: true, echo: true });
    const { chunks, text } = await collect(stream);
    expect(text).toBe("Hi thereecho: Hi there");
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe("stop");
    expect(chunks.at(-1)?.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 4 });
  });

  it("refuses suffix with a 400 that says why, or falls over to a target that can fill in the middle", async () => {
    const err = await client.completions.create({ model: "claude", prompt: "def f(", suffix: "return x" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const bad = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(bad.code).toBe("unsupported_parameter");
    expect(bad.param).toBe("suffix");
    expect(bad.message).toContain("fill in the middle");
    const { data, response } = await client.completions.create({ model: "claude-or-open", prompt: "def f(", suffix: "return x" }).withResponse();
    expect(data.choices[0]?.text).toBe("echo: def f( [suffix: return x]");
    expect(response.headers.get("x-edgeclaw-fallback-reason")).toBe("claude-or-open/a:unsupported_parameter");
  });

  it("refuses prompt batches and token ids, which a chat call cannot carry", async () => {
    for (const prompt of [["one", "two"], [1, 2, 3]]) {
      const res = await call("POST", "/v1/completions", { bearer: t.key, body: { model: "claude", prompt } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: "unsupported_value", param: "prompt", type: "invalid_request_error" });
    }
  });
});

describe("bad input", () => {
  const cases: [string, Record<string, unknown>, string, string | null][] = [
    ["no prompt", { model: "fake-echo" }, "invalid_value", "prompt"],
    ["n > 1", { model: "fake-echo", prompt: "a", n: 2 }, "unsupported_value", "n"],
    ["a misspelt field", { model: "fake-echo", prompt: "a", max_token: 5 }, "unknown_parameter", "max_token"],
    ["logprobs above 5", { model: "fake-echo", prompt: "a", logprobs: 9 }, "invalid_value", "logprobs"],
    ["stream_options without stream", { model: "fake-echo", prompt: "a", stream_options: { include_usage: true } }, "invalid_value", "stream_options"],
    ["best_of with stream", { model: "fake-echo", prompt: "a", best_of: 2, stream: true }, "invalid_value", "best_of"],
    ["an embedding model", { model: "embed", prompt: "a" }, "unsupported_model", "model"],
  ];
  for (const [what, body, code, param] of cases) {
    it(`answers 400 in OpenAI's shape for ${what}`, async () => {
      const res = await call("POST", "/v1/completions", { bearer: t.key, body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ type: "invalid_request_error", code });
      expect(res.body.error.param ?? null).toBe(param);
    });
  }

  it("answers 404 for a model the tenant does not have", async () => {
    const res = await call("POST", "/v1/completions", { bearer: t.key, body: { model: "nope", prompt: "a" } });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("model_not_found");
  });
});

describe("usage of a stream that reports none", () => {
  it("is counted from the text of text_completion chunks", () => {
    const recorder = streamRecorder(9);
    recorder.chunk(`data: ${JSON.stringify({ object: "text_completion", choices: [{ index: 0, text: "abcdefgh" }] })}\n\n`);
    recorder.chunk(`data: ${JSON.stringify({ object: "text_completion", choices: [{ index: 0, text: "ijkl", finish_reason: "stop" }] })}\n\ndata: [DONE]\n\n`);
    expect(recorder.content()).toBe("abcdefghijkl");
    expect(recorder.usage()).toEqual({ promptTokens: 9, completionTokens: 3 });
  });
});
