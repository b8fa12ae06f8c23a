// How the deploy script runs wrangler: the pinned one from node_modules, or EDGECLAW_WRANGLER (an
// executable taking wrangler's arguments: test/deploy/ points it at a fake that records calls).
// stdin carries the secrets for `wrangler secret bulk`; argv never does.
import { spawn } from "node:child_process";
import { wranglerBin, wranglerEnv } from "../config/wrangler.ts";

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export type Runner = (args: string[], opts: { cwd: string; input?: string; echo?: boolean }) => Promise<RunResult>;

export function wranglerRunner(executable = process.env.EDGECLAW_WRANGLER): Runner {
  return (args, opts) =>
    new Promise((resolvePromise, reject) => {
      const [cmd, argv] = executable ? [executable, args] : [process.execPath, [wranglerBin, ...args]];
      const child = spawn(cmd, argv, { cwd: opts.cwd, env: wranglerEnv(), stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        if (opts.echo) process.stdout.write(d);
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (opts.echo) process.stderr.write(d);
      });
      child.on("error", reject);
      child.on("exit", (code) => resolvePromise({ status: code ?? 1, stdout, stderr }));
      child.stdin.end(opts.input ?? "");
    });
}
