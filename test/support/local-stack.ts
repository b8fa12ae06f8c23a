// What every end-to-end test and benchmark needs to run the gateway locally the way `npm start`
// does: wrangler kept offline and quiet, free ports, readiness waits, and an admin API client.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "../..");
export const wranglerBin = join(root, "node_modules", "wrangler", "bin", "wrangler.js");

/** The environment for wrangler: no metrics, no cf.json fetch, no banner, no per-request logs. */
export const quietEnv: NodeJS.ProcessEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_SEND_ERROR_REPORTS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  X_LOCAL_OBSERVABILITY: "false",
};

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** Waits until `url` answers 2xx, failing early if the process serving it exits. */
export async function waitUp(url: string, child: ChildProcess, ms = 180_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${url}: the process exited before it was ready`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > until) throw new Error(`${url} did not come up in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Waits until nothing answers at `url` any more. A killed `wrangler dev` exits before its workerd
 * child has let go of the port: a restart must not take the dying workerd's answer for its own.
 */
export async function waitDown(url: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      await fetch(url, { signal: AbortSignal.timeout(1_000) });
    } catch {
      return; // refused (or no answer): the port is free
    }
    if (Date.now() > until) throw new Error(`${url} still answers ${ms} ms after its process was killed`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Calls `/admin` with a bearer token; throws with the status and body on anything but 2xx. */
export function adminClient(base: string, token: string) {
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(`${base}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const json = (await res.json()) as any;
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json).slice(0, 300)}`);
    return json;
  };
}

/**
 * The fake OpenAI-compatible upstream (test/fakes/openai-upstream.ts) in a process of its own,
 * for benchmarks: a direct call then crosses processes as a call to a real upstream does, and
 * the fake's work does not share the load generator's event loop.
 */
export async function startFakeUpstreamProcess(): Promise<{ url: string; child: ChildProcess; close(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, "test/fakes/openai-upstream.ts"), String(port)], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  const url = `http://127.0.0.1:${port}`;
  await waitUp(`${url}/control/scenario/up`, child, 30_000);
  return { url, child, close: async () => void child.kill("SIGINT") };
}

