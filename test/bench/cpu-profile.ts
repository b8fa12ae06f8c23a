// A V8 CPU profile of the gateway's isolate, taken through workerd's inspector
// (WORKERD_INSPECTOR_PORT), and its summary: self and inclusive time per function. Shared by the
// diagnostics profile.ts (the router's request) and channels-profile.ts (the webhook ack path).
import WebSocket from "ws";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas?: number[];
}

// Connects to the isolate named like the gateway (or the first one) and starts sampling every
// `intervalUs`; stop() ends the session and returns the profile.
export async function startProfile(port: number, intervalUs: number): Promise<{ stop(): Promise<CpuProfile> }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string; title?: string; id: string }[];
  const target = targets.find((t) => (t.title ?? t.id).includes("edgeclaw")) ?? targets[0];
  if (!target) throw new Error("no inspector target");
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((r) => ws.once("open", r));
  let seq = 0;
  const pending = new Map<number, (v: unknown) => void>();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (msg.id && pending.has(msg.id)) pending.get(msg.id)!(msg.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((resolve) => {
      const id = ++seq;
      pending.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: intervalUs });
  await call("Profiler.start");
  return {
    async stop() {
      const { profile } = (await call("Profiler.stop")) as { profile: CpuProfile };
      ws.close();
      return profile;
    },
  };
}

// Microseconds per function ("name file:line"), busiest first: self time, and inclusive time (a
// function's own samples and its callees', counted once per path even when it recurses).
export function summarize(profile: CpuProfile, intervalUs: number): { totalUs: number; self: [string, number][]; inclusive: [string, number][] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((s, i) => self.set(s, (self.get(s) ?? 0) + (profile.timeDeltas?.[i] ?? intervalUs)));
  const label = (n: ProfileNode) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.split("/").pop()}:${n.callFrame.lineNumber}`;
  const selfBy = new Map<string, number>();
  for (const [id, us] of self) {
    const l = label(byId.get(id) as ProfileNode);
    selfBy.set(l, (selfBy.get(l) ?? 0) + us);
  }
  const incl = new Map<string, number>();
  const walk = (id: number, seen: Set<string>): number => {
    const n = byId.get(id) as ProfileNode;
    let sum = self.get(id) ?? 0;
    const l = label(n);
    const fresh = !seen.has(l);
    if (fresh) seen.add(l);
    for (const c of n.children ?? []) sum += walk(c, seen);
    if (fresh) {
      seen.delete(l);
      incl.set(l, (incl.get(l) ?? 0) + sum);
    }
    return sum;
  };
  const totalUs = profile.nodes[0] ? walk(profile.nodes[0].id, new Set()) : 0;
  const desc = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalUs, self: desc(selfBy), inclusive: desc(incl) };
}
