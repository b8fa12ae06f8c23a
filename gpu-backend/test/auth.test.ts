// API keys on /v1 and /metrics (bearer, constant-time), open probes, and the loopback rule for
// running without keys.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";
import { startBackend, tinyModel, user, type Backend } from "./helpers.ts";

const KEYS = ["gpu-key-one-0123456789abcdef", "gpu-key-two-fedcba9876543210"];
let b: Backend;
beforeAll(async () => {
  b = await startBackend({ MODEL: await tinyModel("always"), MODEL_ID: "tiny", API_KEYS: ` ${KEYS[0]}, ${KEYS[1]} ,` });
});
afterAll(() => b?.close());

const call = (method: string, path: string, auth?: string, body?: unknown) =>
  fetch(`${b.url}${path}`, {
    method,
    headers: { "content-type": "application/json", ...(auth === undefined ? {} : { authorization: auth }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const chat = { model: "tiny", messages: user("hi"), max_tokens: 2 };
const guarded: [string, string, unknown?][] = [
  ["GET", "/v1/models"],
  ["POST", "/v1/chat/completions", chat],
  ["GET", "/metrics"],
  ["GET", "/v1/no-such-route"],
  ["POST", "/v1/completions", { model: "tiny", prompt: "hi", max_tokens: 2 }],
  ["POST", "/v1/embeddings", { model: "tiny", input: "hi" }],
  ["POST", "/tokenize", { model: "tiny", prompt: "hi" }],
  ["POST", "/detokenize", { model: "tiny", tokens: [40] }],
];

async function expectUnauthorized(res: Response) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toBe("Bearer");
  expect(res.headers.get("x-queue-depth")).toBeNull(); // no load figures for strangers
  const body = (await res.json()) as { error: { code: string; type: string } };
  expect(body.error).toMatchObject({ code: "invalid_api_key", type: "authentication_error" });
}

describe("API_KEYS", () => {
  it.each(guarded)("%s %s without a key answers 401", async (method, path, body) => {
    await expectUnauthorized(await call(method, path, undefined, body));
  });

  it.each(guarded)("%s %s with a wrong or malformed key answers 401", async (method, path, body) => {
    for (const auth of ["Bearer wrong-key-0123456789abcdef", `Bearer ${KEYS[0]}x`, `Bearer ${KEYS[0]!.slice(0, -1)}`, KEYS[0]!, `Basic ${KEYS[0]}`, "Bearer ", `bearer${KEYS[0]}`]) {
      await expectUnauthorized(await call(method, path, auth, body));
    }
  });

  it("accepts every configured key (trimmed from the comma list)", async () => {
    for (const key of KEYS) {
      const models = await call("GET", "/v1/models", `Bearer ${key}`);
      expect(models.status).toBe(200);
      expect(models.headers.get("x-queue-depth")).toBe("0");
      const done = await call("POST", "/v1/chat/completions", `Bearer ${key}`, chat);
      expect(done.status).toBe(200);
      expect(((await done.json()) as { object: string }).object).toBe("chat.completion");
      for (const [method, path, body] of guarded.slice(4)) expect((await call(method, path, `Bearer ${key}`, body)).status, path).toBe(200);
      const metrics = await call("GET", "/metrics", `Bearer ${key}`);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/^vllm:num_requests_running 0$/m);
    }
  });

  it("raises the SDK's AuthenticationError for a wrong key, and serves the right one", async () => {
    const wrong = new OpenAI({ baseURL: b.base, apiKey: "sk-not-a-key-0123456789", maxRetries: 0 });
    await expect(wrong.chat.completions.create(chat)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const r = await b.client.chat.completions.create(chat);
    expect(r.choices).toHaveLength(1);
  });

  it("refuses an unauthenticated body before reading it (401, not 413 or 400)", async () => {
    const huge = await fetch(`${b.base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(5 * 1024 * 1024) });
    await expectUnauthorized(huge);
  });

  it("keeps /health and /health/ready open for probes", async () => {
    const health = await call("GET", "/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await call("GET", "/health/ready");
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { status: string }).status).toBe("ready");
  });
});

describe("HOST and API_KEYS at start-up", () => {
  it.each(["0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "example.com", "::ffff:10.0.0.1"])("refuses HOST=%s without API_KEYS", async (host) => {
    const attempt = loadConfig({ HOST: host });
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    await expect(attempt).rejects.toThrow(/is not a loopback address: set API_KEYS/);
    await expect(loadConfig({ HOST: host, API_KEYS: " , " })).rejects.toThrow(/set API_KEYS/);
  });

  it.each(["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"])("allows HOST=%s without API_KEYS (local use)", async (host) => {
    expect((await loadConfig({ HOST: host })).API_KEYS).toEqual([]);
  });

  it("accepts a non-loopback HOST with keys, and refuses short keys", async () => {
    expect((await loadConfig({ HOST: "0.0.0.0", API_KEYS: KEYS.join(",") })).API_KEYS).toEqual(KEYS);
    await expect(loadConfig({ HOST: "0.0.0.0", API_KEYS: "short" })).rejects.toThrow(/at least 16 characters/);
  });
});
