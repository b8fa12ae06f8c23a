// The gateway's workerd (workerd-host.ts startWorkerd) run in a child process of the benchmark.
// Miniflare reads every line the Worker logs from workerd's stdout and parses it in the Node
// process that owns it. In the benchmark's own process that parsing would share the event loop
// with the load generator, so the Worker's one log line per request would be measured as router
// latency, though on Cloudflare the runtime ships log lines off the request path (Workers Logs).
// Here the parsing happens in this child; the benchmark asks it for the line counts at the end.
import { fork, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { workerdCpuMs } from "./workerd-cpu.ts";
import { startWorkerd, type WorkerdHost } from "./workerd-host.ts";

type Options = Parameters<typeof startWorkerd>[0];
type Counts = { info: number; requests: number };
type FromChild = { type: "ready"; url: string } | { type: "failed"; error: string } | { type: "counts"; counts: Counts } | { type: "cpu"; ms: number | null };

export async function startWorkerdProcess(opts: Options): Promise<WorkerdHost & { logCounts: () => Promise<Counts>; cpuMs: () => Promise<number | null> }> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--serve"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = async (): Promise<FromChild> => {
    const [msg] = (await Promise.race([once(child, "message"), once(child, "exit").then(() => [{ type: "failed", error: "workerd host exited" }])])) as [FromChild];
    return msg;
  };
  child.send({ type: "start", opts });
  const first = await next();
  if (first.type !== "ready") {
    child.kill("SIGKILL");
    throw new Error(`workerd host: ${first.type === "failed" ? first.error : "unexpected message"}`);
  }
  return {
    url: first.url,
    logCounts: async () => {
      child.send({ type: "counts" });
      const msg = await next();
      if (msg.type !== "counts") throw new Error("workerd host sent no counts");
      return msg.counts;
    },
    cpuMs: async () => {
      child.send({ type: "cpu" });
      const msg = await next();
      if (msg.type !== "cpu") throw new Error("workerd host sent no cpu time");
      return msg.ms;
    },
    dispose: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.send({ type: "stop" });
      await exited;
    },
  };
}

if (process.argv.includes("--serve") && process.send) {
  let host: WorkerdHost | undefined;
  process.on("message", async (msg: { type: string; opts?: Options }) => {
    try {
      if (msg.type === "start" && msg.opts) {
        host = await startWorkerd(msg.opts);
        process.send!({ type: "ready", url: host.url });
      } else if (msg.type === "counts") {
        process.send!({ type: "counts", counts: host?.logLines?.() ?? { info: 0, requests: 0 } });
      } else if (msg.type === "cpu") {
        process.send!({ type: "cpu", ms: workerdCpuMs() });
      } else if (msg.type === "stop") {
        await host?.dispose();
        process.exit(0);
      }
    } catch (err) {
      process.send!({ type: "failed", error: String(err) });
    }
  });
}
