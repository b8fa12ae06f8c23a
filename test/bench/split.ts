// Where a relayed call's time goes on this host, in one interleaved run: a request to the fake
// upstream made directly from Node, the same call relayed by a bare Worker on workerd (request
// in, fetch out, response back), and workerd's floor (a Worker answering without fetching).
// `node test/bench/split.ts` prints p50/p99 per path.
import { freePort, startFakeUpstreamProcess } from "../support/local-stack.ts";
import { startRelay } from "./workerd-host.ts";

const N = Number(process.env.SPLIT_N ?? 1000);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

const upstream = await startFakeUpstreamProcess();
const up = upstream.url;
const relay = await startRelay({ upstream: up, port: await freePort() });
const body = JSON.stringify({ model: "fake-echo", temperature: 0, messages: [{ role: "user", content: "split" }] });
const post = (url: string) => () => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
const paths: Record<string, () => Promise<Response>> = {
  direct: post(`${up}/v1/chat/completions`),
  workerd_floor: () => fetch(`${relay.url}/floor`),
  workerd_relay: post(`${relay.url}/v1/chat/completions`),
};
const ms: Record<string, number[]> = Object.fromEntries(Object.keys(paths).map((k) => [k, []]));
for (let i = 0; i < N + 50; i++) {
  for (const [name, send] of Object.entries(paths)) {
    const t0 = performance.now();
    await (await send()).arrayBuffer();
    if (i >= 50) ms[name]!.push(performance.now() - t0);
  }
}
const round = (x: number) => Math.round(x * 1000) / 1000;
console.log(JSON.stringify(Object.fromEntries(Object.entries(ms).map(([k, xs]) => [k, { p50: round(pct(xs, 50)), p99: round(pct(xs, 99)) }]))));
await relay.dispose();
await upstream.close();
