// End to end, as a user runs it: `node scripts/start.ts` (what `npm start` runs) brings up the
// gpu-backend on a generated tiny model and `wrangler dev`, on free ports with their own state
// directory and secrets file; the official `openai` client then talks to the gateway. The
// model has random weights, so answers are checked for shape and counts, never text.
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDevVars } from "../../scripts/dev-vars.ts";
import { cleanUp, ownerToken, prepare, READY_TIMEOUT_MS, start, stop, type Running, type StartDirs } from "../support/npm-start.ts";

let dirs: StartDirs;
let current: Running | undefined;

async function isListening(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return true;
  } catch {
    return false;
  }
}

function client(running: Running, apiKey = running.apiKey): OpenAI {
  return new OpenAI({ baseURL: running.baseURL, apiKey, maxRetries: 0, timeout: 120_000 });
}

beforeAll(async () => {
  dirs = await prepare("edgeclaw-e2e-");
  current = await start(dirs);
});

afterAll(async () => {
  if (current) await stop(current);
  cleanUp(dirs);
});

describe("npm start + the openai client", () => {
  it("prints a base URL on 127.0.0.1 and the configured key", () => {
    expect(current!.baseURL).toBe(`http://127.0.0.1:${dirs.ports.gateway}/v1`);
    expect(current!.apiKey).toBe("sk-edgeclaw-e2e-demo-key");
    expect(current!.output()).toContain("curl -s");
  });

  it("lists the demo models", async () => {
    const models = await client(current!).models.list();
    expect(models.data.map((m) => m.id)).toEqual(["default", "default-embedding"]);
    expect(models.data[0]).toMatchObject({ object: "model", owned_by: "gpu-backend" });
  });

  it("answers a non-stream completion from the gpu-backend", async () => {
    const { data, response } = await client(current!)
      .chat.completions.create({ model: "default", messages: [{ role: "user", content: "Say hi" }], max_tokens: 8, seed: 1 })
      .withResponse();
    expect(data.object).toBe("chat.completion");
    expect(data.model).toBe("e2e-tiny");
    expect(data.choices).toHaveLength(1);
    expect(data.choices[0]!.message.role).toBe("assistant");
    expect(typeof data.choices[0]!.message.content).toBe("string");
    expect(["stop", "length"]).toContain(data.choices[0]!.finish_reason);
    expect(data.usage!.completion_tokens).toBeGreaterThan(0);
    expect(data.usage!.completion_tokens).toBeLessThanOrEqual(8);
    expect(data.usage!.total_tokens).toBe(data.usage!.prompt_tokens + data.usage!.completion_tokens);
    expect(response.headers.get("x-request-id")).toBeTruthy();
    expect(response.headers.get("x-edgeclaw-provider")).toBe("gpu-backend");
    expect(response.headers.get("x-edgeclaw-model")).toBe("default");
    expect(response.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/); // present, milliseconds with 2 decimals
  });

  it("streams a completion chunk by chunk, with usage at the end", async () => {
    const stream = await client(current!).chat.completions.create({
      model: "default",
      messages: [{ role: "user", content: "Count" }],
      max_tokens: 6,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    const finish = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
    expect(finish).toHaveLength(1);
    expect(["stop", "length"]).toContain(finish[0]);
    const usage = chunks.at(-1)!.usage!;
    expect(usage.completion_tokens).toBeGreaterThan(0);
    expect(usage.completion_tokens).toBeLessThanOrEqual(6);
  });

  it("puts the gpu-backend behind the API key npm start generated, which the seeded provider sends", async () => {
    const gpu = `http://127.0.0.1:${dirs.ports.gpu}`;
    const gpuKey = readDevVars(join(dirs.workDir, "dev.vars")).PROVIDER_GPU_BACKEND_KEY;
    expect(gpuKey).toMatch(/^sk-gpu-[\w-]{32}$/);
    for (const auth of [undefined, "Bearer sk-gpu-not-the-key-0123456789abcdef"]) {
      const headers: Record<string, string> = auth ? { authorization: auth } : {};
      expect((await fetch(`${gpu}/v1/models`, { headers })).status).toBe(401);
      expect((await fetch(`${gpu}/metrics`, { headers })).status).toBe(401);
    }
    expect((await fetch(`${gpu}/v1/models`, { headers: { authorization: `Bearer ${gpuKey}` } })).status).toBe(200);
    expect((await fetch(`${gpu}/health/ready`)).status).toBe(200); // probes stay open
    // The completion tests above went through the gateway, so it sent the key: the gpu-backend
    // counted their tokens.
    const metrics = await (await fetch(`${gpu}/metrics`, { headers: { authorization: `Bearer ${gpuKey}` } })).text();
    expect(Number(/^edgeclaw_generation_tokens_total\{model="e2e-tiny"\} (\d+)$/m.exec(metrics)?.[1] ?? "0")).toBeGreaterThan(0);
  });

  it("raises AuthenticationError for a bad key", async () => {
    await expect(client(current!, "sk-edgeclaw-wrong-key").models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(
      client(current!, "sk-edgeclaw-wrong-key").chat.completions.create({ model: "default", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it("raises BadRequestError for a bad body, naming the parameter", async () => {
    const err = await client(current!)
      .chat.completions.create({ model: "default", messages: [{ role: "user", content: "x" }], temperature: 7 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe("temperature");
    await expect(
      client(current!).chat.completions.create({ model: "default", messages: [] }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(
      client(current!).chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("stops both processes on Ctrl-C and keeps the state for the next start", async () => {
    // A key made through the admin API, with a token from `npm run admin`, must survive a restart.
    const token = ownerToken(dirs);
    const created = await fetch(`http://127.0.0.1:${dirs.ports.gateway}/admin/api-keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ tenant_id: "demo", name: "survives restarts" }),
    });
    expect(created.status).toBe(201);
    const { key } = (await created.json()) as { key: string };

    expect(await stop(current!)).toBe(0);
    expect(await isListening(`http://127.0.0.1:${dirs.ports.gateway}/health`)).toBe(false);
    expect(await isListening(`http://127.0.0.1:${dirs.ports.gpu}/health`)).toBe(false);

    current = await start(dirs);
    const models = await client(current, key).models.list();
    expect(models.data.map((m) => m.id)).toEqual(["default", "default-embedding"]);
    const answer = await client(current).chat.completions.create({ model: "default", messages: [{ role: "user", content: "again" }], max_tokens: 4 });
    expect(answer.choices).toHaveLength(1);
  }, READY_TIMEOUT_MS + 120_000); // a whole second start-up happens inside this test
});
