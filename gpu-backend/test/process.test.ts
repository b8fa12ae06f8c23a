// The server as users start it: `npm run -w gpu-backend start`, configured by environment only.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { afterEach, describe, expect, it } from "vitest";
import { tinyModel, user, waitFor, workDir } from "./helpers.ts";

const root = resolve(import.meta.dirname, "../..");
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function start(env: Record<string, string>) {
  const child = spawn("npm", ["run", "--silent", "-w", "gpu-backend", "start"], {
    cwd: root,
    env: { ...process.env, THREADS: "1", ...env },
    detached: true, // its own process group, so npm and node stop together
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const out = { text: "" };
  child.stdout!.on("data", (d) => (out.text += d));
  child.stderr!.on("data", (d) => (out.text += d));
  // npm itself may end by the signal; the exit code that matters is the server's, which npm relays.
  const exited = new Promise<number | null>((r) => child.on("exit", (code, signal) => r(code ?? (signal ? 128 + 2 : null))));
  return { child, out, exited };
}

async function ready(port: number, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("server never became ready");
}

describe("npm run -w gpu-backend start", () => {
  it("serves MODEL on PORT, and stops cleanly on SIGINT", async () => {
    const port = await freePort();
    const { child, out, exited } = start({ MODEL: await tinyModel("never"), PORT: String(port), SLOTS: "2" });
    await ready(port);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "x" });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(["tiny-never-42"]);
    const r = await client.chat.completions.create({ model: "tiny-never-42", messages: user("hi"), max_tokens: 6 });
    expect(r.usage!.completion_tokens).toBe(6);
    process.kill(-child.pid!, "SIGINT");
    expect([0, 130]).toContain(await exited);
    expect(out.text).toMatch(/SIGINT: finishing in-flight requests, then exiting/);
    expect(await fetch(`http://127.0.0.1:${port}/health`).then(() => "open", () => "closed")).toBe("closed");
  });

  it("exits non-zero with a clear message when an hf: model cannot be downloaded and no fallback was asked for", async () => {
    const port = await freePort();
    const closed = await freePort(); // nothing listens there: the hub is unreachable, as offline
    const cache = join(workDir, "hf-cache-no-fallback");
    const { out, exited } = start({ MODEL: "hf:someone/some-model-GGUF:Q4_K_M", MODEL_ID: "some-model", HF_ENDPOINT: `http://127.0.0.1:${closed}/`, DOWNLOAD_STALL_SECONDS: "5", MODEL_CACHE_DIR: cache, PORT: String(port) });
    let everReady = false;
    const poll = setInterval(() => void fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => { if (r.ok) everReady = true; }, () => undefined), 50);
    const code = await exited;
    clearInterval(poll);
    expect(code).toBe(1);
    expect(everReady).toBe(false); // never reported ready on random weights
    expect(out.text).toMatch(/Could not download hf:someone\/some-model-GGUF:Q4_K_M/);
    expect(out.text).toMatch(/set ALLOW_TINY_FALLBACK=1/);
    expect(out.text).not.toMatch(/FALLING BACK/);
    expect(existsSync(join(cache, "edgeclaw-tiny.gguf"))).toBe(false);
  });

  it("with ALLOW_TINY_FALLBACK=1 serves the generated tiny model as edgeclaw-tiny, never under MODEL_ID, saying so", async () => {
    const port = await freePort();
    const closed = await freePort();
    const cache = join(workDir, "hf-cache");
    const { out } = start({ MODEL: "hf:someone/some-model-GGUF:Q4_K_M", MODEL_ID: "foo", ALLOW_TINY_FALLBACK: "1", HF_ENDPOINT: `http://127.0.0.1:${closed}/`, DOWNLOAD_STALL_SECONDS: "5", MODEL_CACHE_DIR: cache, PORT: String(port) });
    await ready(port);
    expect(out.text).toMatch(/Could not download hf:someone\/some-model-GGUF:Q4_K_M/);
    expect(out.text).toMatch(/FALLING BACK \(ALLOW_TINY_FALLBACK\) to the generated tiny test model .* served as 'edgeclaw-tiny' whatever MODEL_ID says/);
    expect(existsSync(join(cache, "edgeclaw-tiny.gguf"))).toBe(true);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "x" });
    expect((await client.models.list()).data.map((m) => m.id)).toEqual(["edgeclaw-tiny"]);
    await expect(client.chat.completions.create({ model: "foo", messages: user("hi"), max_tokens: 3 })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const r = await client.chat.completions.create({ model: "edgeclaw-tiny", messages: user("hi"), max_tokens: 3 });
    expect(r.choices).toHaveLength(1);
  });

  it("prints download progress as plain lines when stderr is not a terminal", async () => {
    const bytes = await readFile(await tinyModel("never"));
    // A stand-in for the Hugging Face hub that trickles the file out in 20 pieces.
    const hub = createHttpServer(async (req, res) => {
      if (!new URL(req.url!, "http://hub").pathname.endsWith("/resolve/main/model-q4.gguf")) return void res.writeHead(404).end();
      res.writeHead(200, { "content-length": bytes.length, "content-type": "application/octet-stream" });
      if (req.method === "HEAD") return void res.end();
      const step = Math.ceil(bytes.length / 20);
      for (let i = 0; i < bytes.length && !res.destroyed; i += step) {
        res.write(bytes.subarray(i, i + step));
        await new Promise((r) => setTimeout(r, 100));
      }
      res.end();
    });
    await new Promise<void>((r) => hub.listen(0, "127.0.0.1", r));
    try {
      const port = await freePort();
      const hubPort = (hub.address() as { port: number }).port;
      const { out } = start({ MODEL: "hf:someone/repo/model-q4.gguf", HF_ENDPOINT: `http://127.0.0.1:${hubPort}/`, MODEL_CACHE_DIR: join(workDir, "hf-progress"), PORT: String(port) });
      await ready(port);
      const lines = out.text.split("\n").filter((l) => /^\[gpu-backend\] downloading hf:someone\/repo\/model-q4\.gguf: \d+% \([\d.]+ \/ [\d.]+ MiB\)$/.test(l));
      expect(lines.length).toBeGreaterThanOrEqual(5);
      expect(lines.at(-1)).toMatch(/: 100% /);
      expect(out.text).not.toMatch(/\x1b\[/); // no terminal control codes in a log
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: "x" });
      expect((await client.models.list()).data.map((m) => m.id)).toEqual(["model-q4"]);
    } finally {
      hub.closeAllConnections();
      await new Promise((r) => hub.close(r));
    }
  });

  it("refuses to listen on a non-loopback HOST without API_KEYS", async () => {
    const port = await freePort();
    const { out, exited } = start({ HOST: "0.0.0.0", MODEL: await tinyModel("never"), PORT: String(port) });
    expect(await exited).toBe(1);
    expect(out.text).toMatch(/HOST=0\.0\.0\.0 is not a loopback address: set API_KEYS/);
    expect(await fetch(`http://127.0.0.1:${port}/health`).then(() => "open", () => "closed")).toBe("closed");
  });

  it.skipIf(existsSync("/dev/nvidia0"))("fails fast with a clear message when GPU=cuda finds no CUDA", async () => {
    const { out, exited } = start({ GPU: "cuda", MODEL: await tinyModel("never"), PORT: String(await freePort()) });
    expect(await exited).toBe(1);
    expect(out.text).toMatch(/GPU=cuda was requested but CUDA is not usable here/);
  });

  it("refuses bad configuration with a clear message", async () => {
    const { out, exited } = start({ SLOTS: "lots", MODEL: await tinyModel("never") });
    expect(await exited).toBe(1);
    expect(out.text).toMatch(/environment SLOTS: /);
    const missing = start({ MODEL: "/no/such/model.gguf", PORT: String(await freePort()) });
    expect(await missing.exited).toBe(1);
    expect(missing.out.text).toMatch(/not a usable GGUF model: file not found/);
  });
});
