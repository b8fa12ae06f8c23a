// Forwarding benchmark: `npm run bench -- regions` -> bench-results/regions.json.
// What a request of region eu pays for arriving somewhere else: the same /v1/chat/completions load
// with an eu key sent to
//   (a) the eu Worker itself (no forwarding),
//   (b) the global entry, which forwards it to eu through its REGION_EU service binding,
//   (c) the us Worker, which does the same (a client that reached the wrong region),
// plus the fake upstream called directly (what the gateway adds at all). The stack is
// test/support/regions-stack.ts: three `wrangler dev` processes whose service bindings connect
// through wrangler's dev registry, so a local hop is an HTTP call between two workerd processes on
// this host (each behind wrangler dev's proxy); on Cloudflare a service binding runs the target
// Worker in the same location without a network hop. The figures are for comparison within one
// run on this machine, in the style of bench-results/router.json.
// Also measured: a streamed answer through the entry arrives piece by piece (its first chunk long
// before its end), i.e. forwarding does not buffer.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { root, startFakeUpstreamProcess } from "../support/local-stack.ts";
import { startRegionsStack, type RegionsStack } from "../support/regions-stack.ts";
import { chatBody as body, load, pct, round } from "./load.ts";

const N_C1 = Number(process.env.REGIONS_BENCH_N1 ?? 500);
const N_C10 = Number(process.env.REGIONS_BENCH_N10 ?? 2000);
const ROUNDS = Number(process.env.REGIONS_BENCH_ROUNDS ?? 10);
const STREAMS = Number(process.env.REGIONS_BENCH_STREAMS ?? 10);

function log(msg: string) {
  console.log(`[bench:regions] ${msg}`);
}

// One streamed answer: when its first SSE chunk and its end arrived (ms after sending).
async function timeStream(send: () => Promise<Response>): Promise<{ first: number; total: number }> {
  const t0 = performance.now();
  const res = await send();
  if (res.status !== 200) throw new Error(`stream answered ${res.status}: ${await res.text()}`);
  let first = NaN;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(first) && text.includes("chat.completion.chunk")) first = performance.now() - t0;
  }
  if (!text.includes("data: [DONE]")) throw new Error("stream ended without [DONE]");
  return { first, total: performance.now() - t0 };
}

async function main() {
  const upstream = await startFakeUpstreamProcess();
  let stack: RegionsStack | undefined;
  try {
    log("starting eu, us and the global entry (three wrangler dev processes)");
    stack = await startRegionsStack({ upstreamUrl: upstream.url, log });
    const admin = stack.admin("eu");
    const tenant = await admin("POST", "/tenants", { name: "Forwarding bench" });
    await admin("POST", "/providers", { tenant_id: tenant.id, name: "prov-a", kind: "openai-compatible", base_url: `${upstream.url}/v1` });
    const key = (await admin("POST", "/api-keys", { tenant_id: tenant.id, name: "bench" })).key as string;
    const huge = { requests_per_min: 10_000_000, tokens_per_min: 10_000_000_000 };
    const scn = "regions-bench-stream";
    // A slow stream: 10 pieces 100 ms apart, so a buffered relay would hold the first for ~1 s.
    await fetch(`${upstream.url}/control/scenario/${scn}`, { method: "POST", body: JSON.stringify({ mode: "ok", stream_words: 10, stream_every_ms: 100 }) });
    await admin("PUT", "/router-config", {
      tenant_id: tenant.id,
      config: {
        limits: { tenant: huge, key: huge },
        routes: {
          bench: { tree: { type: "target", provider: "prov-a", model: "fake-echo" } },
          "bench-stream": { tree: { type: "target", provider: "prov-a", model: `fake-scn-${scn}` } },
        },
      },
    });

    const json = { "content-type": "application/json" };
    const via = (base: string, model = "bench", stream = false) => () =>
      fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { ...json, authorization: `Bearer ${key}` }, body: body(model, stream) });
    const paths = {
      upstream: () => fetch(`${upstream.url}/v1/chat/completions`, { method: "POST", headers: json, body: body("fake-echo") }),
      eu: via(stack.bases.eu),
      entry: via(stack.entry),
      us: via(stack.bases.us),
    } as const;
    type PathName = keyof typeof paths;
    const names = Object.keys(paths) as PathName[];
    for (const name of names) {
      const res = await paths[name]();
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }

    const figures: Record<string, number> = {};
    const raw: Record<string, unknown> = {};
    // Interleaved as in test/bench/router.ts: this host is noisy (2 shared vCPUs), so the paths
    // take turns (request by request at concurrency 1, in ROUNDS blocks at 10, order rotating)
    // and each path's percentiles are over all its samples.
    for (const [c, n] of [[1, N_C1], [10, N_C10]] as const) {
      log(`concurrency ${c}: ${n} requests per path, interleaved`);
      for (const name of names) await load(c, Math.min(100, n), paths[name]); // warm-up
      const samples = Object.fromEntries(names.map((k) => [k, { ms: [] as number[], failed: 0 }])) as Record<PathName, { ms: number[]; failed: number }>;
      const rounds = c === 1 ? n : ROUNDS;
      for (let r = 0; r < rounds; r++) {
        for (let i = 0; i < names.length; i++) {
          const name = names[(r + i) % names.length] as PathName;
          const got = await load(c, c === 1 ? 1 : Math.ceil(n / ROUNDS), paths[name]);
          samples[name].ms.push(...got.ms);
          samples[name].failed += got.failed;
        }
      }
      const failed = names.filter((k) => samples[k].failed > 0);
      if (failed.length > 0) throw new Error(`failures at concurrency ${c}: ${failed.map((k) => `${k} ${samples[k].failed}`).join(", ")}`);
      const { upstream: d, eu: a, entry: b, us: u } = samples;
      for (const q of [50, 99]) {
        // For scale: what the home region's Worker adds to a direct upstream call.
        figures[`home_region_overhead_p${q}_ms_c${c}`] = round(pct(a.ms, q) - pct(d.ms, q));
        // (b) and (c) against (a): the cost of one forwarding hop.
        figures[`entry_forwarding_p${q}_ms_c${c}`] = round(pct(b.ms, q) - pct(a.ms, q));
        figures[`entry_ratio_p${q}_c${c}`] = round(pct(b.ms, q) / pct(a.ms, q));
        figures[`wrong_region_forwarding_p${q}_ms_c${c}`] = round(pct(u.ms, q) - pct(a.ms, q));
        figures[`wrong_region_ratio_p${q}_c${c}`] = round(pct(u.ms, q) / pct(a.ms, q));
      }
      raw[`c${c}`] = {
        requests: a.ms.length,
        interleaving: c === 1 ? "request by request" : `${ROUNDS} rounds of ${Math.ceil(n / ROUNDS)} requests per path`,
        ...Object.fromEntries(names.flatMap((k) => [[`${k}_p50_ms`, round(pct(samples[k].ms, 50))], [`${k}_p99_ms`, round(pct(samples[k].ms, 99))]])),
      };
    }

    log(`streaming: ${STREAMS} slow streams (10 pieces, 100 ms apart) per path`);
    const streams: Record<string, { first: number[]; total: number[] }> = { eu: { first: [], total: [] }, entry: { first: [], total: [] }, us: { first: [], total: [] } };
    const streamVia = { eu: via(stack.bases.eu, "bench-stream", true), entry: via(stack.entry, "bench-stream", true), us: via(stack.bases.us, "bench-stream", true) };
    for (let i = 0; i < STREAMS; i++) {
      for (const name of ["eu", "entry", "us"] as const) {
        const t = await timeStream(streamVia[name]);
        streams[name]!.first.push(t.first);
        streams[name]!.total.push(t.total);
      }
    }
    const stream = Object.fromEntries(
      Object.entries(streams).flatMap(([k, v]) => [[`stream_first_chunk_p50_ms_${k}`, round(pct(v.first, 50))], [`stream_total_p50_ms_${k}`, round(pct(v.total, 50))]]),
    );
    // Not buffered: through a hop, the first piece still arrives long before the last.
    for (const k of ["entry", "us"]) {
      if (!(stream[`stream_first_chunk_p50_ms_${k}`]! < stream[`stream_total_p50_ms_${k}`]! / 2)) throw new Error(`the stream through ${k} looks buffered: ${JSON.stringify(stream)}`);
    }

    const result = {
      generated_at: new Date().toISOString(),
      machine:
        "local: three wrangler dev processes (eu, us, global entry; each its proxy worker + workerd, local D1 and DOs), service bindings through the dev registry (an HTTP hop between workerd processes) + the fake upstream in its own Node process, all on the same host; figures are for comparison within this run",
      paths: {
        upstream: "the fake upstream called directly",
        eu: "eu key to the eu Worker (home region, no forwarding)",
        entry: "eu key to the global entry, forwarded to eu through REGION_EU",
        us: "eu key to the us Worker, forwarded to eu through REGION_EU",
      },
      ...figures,
      ...stream,
      raw,
    };
    mkdirSync(join(root, "bench-results"), { recursive: true });
    writeFileSync(join(root, "bench-results", "regions.json"), `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await stack?.close();
    await upstream.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
