// Bad input answers a clear OpenAI-shaped error with the right status, never a 500.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", CONTEXT_SIZE: "256", MAX_BODY_BYTES: "65536", ADMIN_TOKEN: "admin-secret-0123456789" });
});
afterAll(() => b?.close());

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) });

async function expectError(res: Response, status: number, code: string | null, param?: string | null) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } };
  expect(body.error.code).toBe(code);
  if (param !== undefined) expect(body.error.param).toBe(param);
  expect(body.error.message.length).toBeGreaterThan(5);
  expect(body.error.message).not.toMatch(/\n\s+at /); // no stack trace
  return body.error;
}

describe("validation (400 with param)", () => {
  const ok = { model: "tiny", messages: user("hi"), max_tokens: 2 };
  it.each([
    [{ ...ok, messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
    [{ ...ok, messages: [] }, "messages"],
    [{ ...ok, temperature: 3 }, "temperature"],
    [{ ...ok, top_p: 0 }, "top_p"],
    [{ ...ok, max_tokens: 0 }, "max_tokens"],
    [{ ...ok, max_completion_tokens: 1.5 }, "max_completion_tokens"],
    [{ ...ok, stop: ["a", "b", "c", "d", "e"] }, "stop"],
    [{ ...ok, stop: "x".repeat(1025) }, "stop"],
    [{ ...ok, stop: ["ok", "y".repeat(2_000)] }, "stop[1]"],
    [{ ...ok, stream: "yes" }, "stream"],
    [{ ...ok, response_format: { type: "xml" } }, "response_format.type"],
    [{ model: "tiny" }, "messages"],
    [{ ...ok, model: "" }, "model"],
  ])("%j names %s", async (body, param) => {
    await expectError(await post(body), 400, "invalid_value", param);
  });

  it.each([
    [{ ...ok, n: 2 }, "n"],
    [{ ...ok, messages: [{ role: "user", content: [{ type: "text", text: "a" }, { type: "image_url", image_url: { url: "x" } }] }] }, "messages[0].content[1].type"],
    [{ ...ok, logprobs: true, response_format: { type: "json_object" } }, "logprobs"],
    [{ ...ok, logprobs: true, tools: [{ type: "function", function: { name: "f" } }] }, "logprobs"],
  ])("refuses what it cannot honour: %j names %s", async (body, param) => {
    await expectError(await post(body), 400, "unsupported_value", param);
  });

  it("refuses a body that is not JSON", async () => {
    await expectError(await post("{not json"), 400, "invalid_json");
  });

  it("refuses a JSON schema it cannot compile", async () => {
    const err = await expectError(
      await post({ ...ok, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "no-such-type" } } } } } }),
      400,
      "invalid_value",
    );
    expect(err.param).toBe("response_format.json_schema.schema.properties.a.type");
  });

  // Bodies built as text: JSON.stringify itself recurses, and would overflow in the test first.
  const nestedSchema = (levels: number) => '{"type":"object","properties":{"a":'.repeat(levels) + '{"type":"string"}' + "}}".repeat(levels);
  const withSchema = (schema: string) =>
    `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`;

  it("refuses a 1,000-level nested JSON schema with 400 naming it (it overflowed the stack: 500)", async () => {
    const err = await expectError(await post(withSchema(nestedSchema(1000))), 400, "invalid_value", "response_format.json_schema.schema");
    expect(err.message).toMatch(/nested deeper than 32 levels/);
    const deeper = await expectError(await post(withSchema(nestedSchema(1500))), 400, "invalid_value", "response_format.json_schema.schema");
    expect(deeper.message).toMatch(/nested deeper/);
  });

  it("refuses a JSON schema with too many nodes, and still compiles one inside the bounds", async () => {
    const wide = `{"type":"string","enum":[${Array(5000).fill('"a"').join(",")}]}`;
    const err = await expectError(await post(withSchema(wide)), 400, "invalid_value", "response_format.json_schema.schema");
    expect(err.message).toMatch(/more than 4096 values/);
    const res = await post(withSchema(nestedSchema(10)));
    expect(res.status).toBe(200);
  });

  it("refuses any deeply nested body field with 400 naming the top-level field", async () => {
    const deep = "[".repeat(20_000) + '"x"' + "]".repeat(20_000);
    await expectError(await post(`{"model":"tiny","messages":[{"role":"user","content":"hi"}],"metadata":${deep}}`), 400, "invalid_value", "metadata");
    await expectError(await post(`{"model":"tiny","messages":[{"role":"user","content":${deep}}]}`), 400, "invalid_value", "messages");
    await expectError(await post(deep), 400, "invalid_value", null);
  });

  it("raises the SDK's BadRequestError", async () => {
    await expect(b.client.chat.completions.create({ model: "tiny", messages: user("x"), temperature: 9 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe("other errors", () => {
  it("answers 404 model_not_found for an unknown model (the SDK's NotFoundError)", async () => {
    await expectError(await post({ model: "nope", messages: user("x") }), 404, "model_not_found", "model");
    await expect(b.client.chat.completions.create({ model: "nope", messages: user("x") })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("answers 400 context_length_exceeded for a prompt longer than the context", async () => {
    const err = await expectError(await post({ model: "tiny", messages: user("word ".repeat(400)) }), 400, "context_length_exceeded", "messages");
    expect(err.message).toMatch(/256/);
  });

  it("caps max_tokens at the room the context leaves, finishing with length", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("hi"), max_tokens: 100_000 });
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(r.usage!.total_tokens).toBeLessThanOrEqual(256);
    expect(r.usage!.total_tokens).toBeGreaterThan(200);
  });

  it("answers 413 for a body over the size limit", async () => {
    await expectError(await post({ model: "tiny", messages: user("x".repeat(70_000)) }), 413, "request_too_large");
  });

  it("answers 404 JSON for an unknown route and carries x-queue-depth everywhere", async () => {
    const res = await fetch(`${b.url}/v2/nothing`);
    await expectError(res, 404, "not_found");
    expect(res.headers.get("x-queue-depth")).toBe("0");
    expect((await fetch(`${b.url}/health`)).headers.get("x-queue-depth")).toBe("0");
  });

  it("guards the admin API with the bearer token", async () => {
    const put = (auth?: string) =>
      fetch(`${b.url}/admin/models/other`, { method: "PUT", headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ path: "/nonexistent.gguf" }) });
    await expectError(await put(), 401, "invalid_api_key");
    await expectError(await put("Bearer wrong-token"), 401, "invalid_api_key");
    await expectError(await put("Bearer admin-secret-0123456789"), 400, "path_not_allowed", "path");
    const bad = await fetch(`${b.url}/admin/models/other`, { method: "PUT", headers: { authorization: "Bearer admin-secret-0123456789", "content-type": "application/json" }, body: JSON.stringify({ slots: 0 }) });
    await expectError(bad, 400, "invalid_value", "path");
  });
});

describe("without ADMIN_TOKEN", () => {
  let plain: Backend;
  beforeAll(async () => {
    plain = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny" });
  });
  afterAll(() => plain?.close());
  it("keeps the admin API off", async () => {
    const res = await fetch(`${plain.url}/admin/models`, { headers: { authorization: "Bearer anything-at-all-here" } });
    await expectError(res, 403, "admin_disabled");
  });
});
