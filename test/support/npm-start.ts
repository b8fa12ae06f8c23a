// Runs `node scripts/start.ts` (what `npm start` runs) the way a user does: the gpu-backend on a
// generated tiny model plus `wrangler dev`, on free ports with their own state directory and
// secrets file, and waits until it prints its base URL and key. End-to-end tests share it.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, root } from "./local-stack.ts";

export const READY_TIMEOUT_MS = 240_000;

export interface Running {
  child: ChildProcess;
  output: () => string;
  baseURL: string;
  apiKey: string;
}

export interface StartDirs {
  workDir: string;
  modelPath: string;
  ports: { gateway: number; gpu: number };
}

// A work directory with a freshly made tiny model and two free ports.
export async function prepare(prefix: string): Promise<StartDirs> {
  const workDir = mkdtempSync(join(tmpdir(), prefix));
  const modelPath = join(workDir, "e2e-tiny.gguf");
  const made = spawnSync(process.execPath, [join(root, "gpu-backend", "src", "tools", "make-tiny-model.ts"), modelPath], { cwd: root, encoding: "utf8" });
  if (made.status !== 0) throw new Error(`make-tiny-model failed: ${made.stderr}`);
  return { workDir, modelPath, ports: { gateway: await freePort(), gpu: await freePort() } };
}

export function cleanUp(dirs: StartDirs | undefined): void {
  if (dirs) rmSync(dirs.workDir, { recursive: true, force: true });
}

export function start(dirs: StartDirs, extraEnv: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [join(root, "scripts", "start.ts")], {
    cwd: root,
    env: {
      ...process.env,
      EDGECLAW_PORT: String(dirs.ports.gateway),
      GPU_BACKEND_PORT: String(dirs.ports.gpu),
      EDGECLAW_STATE_DIR: join(dirs.workDir, "state"),
      EDGECLAW_DEV_VARS: join(dirs.workDir, "dev.vars"),
      EDGECLAW_API_KEY: "sk-edgeclaw-e2e-demo-key",
      EDGECLAW_READY_TIMEOUT_MS: String(READY_TIMEOUT_MS),
      MODEL: dirs.modelPath,
      SLOTS: "2",
      THREADS: "1",
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready in time:\n${output}`)), READY_TIMEOUT_MS);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}) before it was ready:\n${output}`));
    };
    child.once("exit", onExit);
    const poll = setInterval(() => {
      if (!output.includes("Press Ctrl-C to stop.")) return;
      clearInterval(poll);
      clearTimeout(timer);
      child.off("exit", onExit);
      const baseURL = /Base URL: (\S+)/.exec(output)?.[1];
      const apiKey = /API key: +(\S+)/.exec(output)?.[1];
      if (!baseURL || !apiKey) return reject(new Error(`no base URL or key printed:\n${output}`));
      resolveStart({ child, output: () => output, baseURL, apiKey });
    }, 100);
    child.once("exit", () => clearInterval(poll));
  });
}

// Ctrl-C: SIGINT to the script's own PID; it stops both children and exits 0.
export async function stop(running: Running): Promise<number | null> {
  if (running.child.exitCode !== null) return running.child.exitCode;
  const exited = new Promise<number | null>((r) => running.child.once("exit", (code) => r(code)));
  running.child.kill("SIGINT");
  return exited;
}

// An owner admin token minted the way a user does (`npm run admin -- token --role owner`).
export function ownerToken(dirs: StartDirs): string {
  const minted = spawnSync(process.execPath, [join(root, "scripts", "admin.ts"), "token", "--role", "owner"], {
    cwd: root,
    env: { ...process.env, EDGECLAW_DEV_VARS: join(dirs.workDir, "dev.vars") },
    encoding: "utf8",
  });
  if (minted.status !== 0) throw new Error(`admin token failed: ${minted.stderr}`);
  return minted.stdout.trim();
}
