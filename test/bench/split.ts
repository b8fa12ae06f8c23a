// Where the router's remaining overhead goes, measured on this host in one run: a request to
// the fake upstream made directly from Node, the same call relayed by a bare Worker on workerd
// (Miniflare, nothing else: request in, fetch out, response back), and workerd's floor (a
// Worker answering without fetching). `node test/bench/split.ts` prints p50/p99 per path.
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { startFakeUpstream } from "../fakes/openai-upstream.ts";

const N = Number(process.env.SPLIT_N ?? 400);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function time(send: () => Promise<Response>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 50; i++) await (await send()).arrayBuffer();
  const ms: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await (await send()).arrayBuffer();
    ms.push(performance.now() - t0);
  }
  return { p50: Math.round(pct(ms, 50) * 1000) / 1000, p99: Math.round(pct(ms, 99) * 1000) / 1000 };
}

const up = await startFakeUpstream();
const mf = new Miniflare(convertV4MiniflareOptions({
  modules: true,
  compatibilityDate: "2026-10-01",
  host: "127.0.0.1",
  port: 8796,
  bindings: { UP: up.url },
  script: `export default { async fetch(req, env) {
    if (new URL(req.url).pathname === "/floor") return new Response("ok");
    return fetch(env.UP + "/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: await req.text() });
  } };`,
} as Parameters<typeof convertV4MiniflareOptions>[0]));
const base = (await mf.ready).origin;
const body = JSON.stringify({ model: "fake-echo", temperature: 0, messages: [{ role: "user", content: "split" }] });
const post = (url: string) => () => fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
const result = {
  direct: await time(post(`${up.url}/v1/chat/completions`)),
  workerd_floor: await time(() => fetch(`${base}/floor`)),
  workerd_relay: await time(post(`${base}/relay`)),
};
console.log(JSON.stringify(result));
await mf.dispose();
await up.close();
