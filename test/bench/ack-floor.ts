// The floor under issue 18's ack targets on this host: what the least "durable before ack" costs
// next to `GET /health`, with nothing of EdgeClaw in it. A bare Worker on workerd (Miniflare, its
// own direct socket, as the gateway runs in the channels bench) answers `GET /health` with "ok",
// and `POST /ack/<chat>` with one RPC to the chat's SQLite-backed Durable Object, which inserts
// one row (a committed write, as a session's accept() ends in) and returns. The three shapes of
// the channels bench are measured the same way and over the same kind of client (a warmed
// node:http keep-alive pool): one at a time to existing objects, a burst of CHATS new objects at
// once, and paced at PACED_RATE a second; each beside GET /health measured alike, interleaved.
// Once per state directory (ACK_FLOOR_STATE_DIRS, like CHANNELS_BENCH_STATE_DIRS: `os` is the
// OS temporary directory, so fsync on disk and the CPU are seen apart).
//
// If this floor's ratios already exceed the targets (one at a time <= 2x, burst of new sessions
// <= 5x, paced <= 3x), no accept path that commits in a Durable Object before answering can meet
// them here. `node test/bench/ack-floor.ts` (or `npm run bench -- ack-floor`); writes
// bench-results/ack-floor.json. A measurement of the host, not of EdgeClaw.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertV4MiniflareOptions, Miniflare } from "miniflare";
import { freePort, root } from "../support/local-stack.ts";
import { keepAlivePool, pooledRequest } from "./http-pool.ts";
import { pct, round } from "./load.ts";

const CHATS = Number(process.env.ACK_FLOOR_CHATS ?? 200);
const SERIAL = Number(process.env.ACK_FLOOR_SERIAL ?? 300);
const PACED_RATE = Number(process.env.ACK_FLOOR_PACED_RATE ?? 100);
const BURSTS = Number(process.env.ACK_FLOOR_BURSTS ?? 3);
const STATE_DIRS = (process.env.ACK_FLOOR_STATE_DIRS ?? "os").split(",").map((d) => d.trim());

const SCRIPT = `import { DurableObject } from "cloudflare:workers";
export class Chat extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS inbox (msg_id TEXT PRIMARY KEY, body TEXT NOT NULL)");
  }
  accept(id, body) {
    this.ctx.storage.sql.exec("INSERT INTO inbox (msg_id, body) VALUES (?, ?) ON CONFLICT (msg_id) DO NOTHING", id, body);
    return true;
  }
}
export default {
  async fetch(req, env) {
    const url = new URL(req.url);
    if (url.pathname === "/health") return new Response("ok");
    const chat = url.pathname.slice("/ack/".length);
    const body = await req.text();
    await env.CHAT.get(env.CHAT.idFromName(chat)).accept(crypto.randomUUID(), body);
    return Response.json({ ok: true });
  },
};`;

const pool = keepAlivePool(CHATS);

async function request(url: string, method: "GET" | "POST", body?: string): Promise<number> {
  const answer = await pooledRequest(pool, url, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body }) });
  if (answer.status !== 200) throw new Error(`${method} ${url}: ${answer.status}`);
  return answer.ms;
}

// A Telegram update's size, roughly: what the accept path stores.
const BODY = JSON.stringify({ update_id: 1, message: { message_id: 1, date: 1_780_000_000, chat: { id: 42, type: "private" }, from: { id: 42, is_bot: false, first_name: "Bench" }, text: "hello there, how are you today?" } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runOn(dir: string) {
  const base = dir === "os" ? tmpdir() : dir;
  mkdirSync(base, { recursive: true });
  const state = mkdtempSync(join(base, "edgeclaw-ack-floor-"));
  const port = await freePort();
  // Options in Miniflare 4's shape, as workerd-host.ts gives them; Miniflare 5 converts them.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      host: "127.0.0.1",
      port: 0,
      resourcePersistencePath: state,
      modules: true,
      script: SCRIPT,
      compatibilityDate: "2026-10-01",
      durableObjects: { CHAT: { className: "Chat", useSQLite: true } },
      unsafeDirectSockets: [{ host: "127.0.0.1", port }],
    } as Parameters<typeof convertV4MiniflareOptions>[0]),
  );
  await mf.ready;
  const url = `http://127.0.0.1:${port}`;
  const health = () => request(`${url}/health`, "GET");
  const ack = (chat: string) => request(`${url}/ack/${chat}`, "POST", BODY);
  const warm = () => Promise.all(Array.from({ length: CHATS }, () => health()));
  try {
    // Existing objects for the one-at-a-time and paced phases.
    await warm();
    await Promise.all(Array.from({ length: 20 }, (_, i) => ack(`warm-${i}`)));

    // One at a time, interleaved.
    const serial = { health: [] as number[], ack: [] as number[] };
    for (let i = 0; i < SERIAL; i++) {
      serial.health.push(await health());
      serial.ack.push(await ack(`warm-${i % 20}`));
    }

    // Bursts: CHATS GET /health at once, then CHATS acks to CHATS new objects at once, over a
    // pool warmed right before each.
    // The same burst into ONE existing object (the shape of an accept path whose first durable
    // step is one per-account object, such as the ledger-first step docs/channels.md weighs).
    const burst = { health: [] as number[], ack: [] as number[], oneObject: [] as number[] };
    for (let b = 0; b < BURSTS; b++) {
      await warm();
      burst.health.push(...(await Promise.all(Array.from({ length: CHATS }, () => health()))));
      await warm();
      burst.ack.push(...(await Promise.all(Array.from({ length: CHATS }, (_, i) => ack(`burst-${b}-${i}`)))));
      await warm();
      burst.oneObject.push(...(await Promise.all(Array.from({ length: CHATS }, () => ack("warm-0")))));
    }

    // Paced: PACED_RATE a second for 2 s each, health then acks to existing objects.
    const paced = async (send: (i: number) => Promise<number>) => {
      const n = PACED_RATE * 2;
      const out: Promise<number>[] = [];
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const due = start + (i * 1000) / PACED_RATE;
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        out.push(send(i));
      }
      return Promise.all(out);
    };
    const pacedHealth = await paced(() => health());
    const pacedAck = await paced((i) => ack(`warm-${i % 20}`));

    const figures = {
      one_at_a_time: { health_p50_ms: round(pct(serial.health, 50)), ack_p50_ms: round(pct(serial.ack, 50)) },
      burst_new_objects: { health_p99_ms: round(pct(burst.health, 99)), ack_p99_ms: round(pct(burst.ack, 99)) },
      burst_one_object: { health_p99_ms: round(pct(burst.health, 99)), ack_p99_ms: round(pct(burst.oneObject, 99)) },
      paced: { rate_per_s: PACED_RATE, health_p99_ms: round(pct(pacedHealth, 99)), ack_p99_ms: round(pct(pacedAck, 99)) },
    };
    const ratios = {
      one_at_a_time_p50: round(figures.one_at_a_time.ack_p50_ms / figures.one_at_a_time.health_p50_ms, 2),
      burst_new_sessions_p99: round(figures.burst_new_objects.ack_p99_ms / figures.burst_new_objects.health_p99_ms, 2),
      burst_one_object_p99: round(figures.burst_one_object.ack_p99_ms / figures.burst_one_object.health_p99_ms, 2),
      paced_p99: round(figures.paced.ack_p99_ms / figures.paced.health_p99_ms, 2),
    };
    console.log(`[bench:ack-floor] ${dir}: ${JSON.stringify(figures)} ratios ${JSON.stringify(ratios)}`);
    return { state: base, ...figures, ratios };
  } finally {
    await mf.dispose();
    rmSync(state, { recursive: true, force: true });
  }
}

const byState: Record<string, unknown> = {};
for (const dir of STATE_DIRS) byState[dir] = await runOn(dir);
pool.destroy();
const result = {
  bench: "ack-floor",
  at: new Date().toISOString(),
  machine: "local, workerd via Miniflare (a bare Worker and a SQLite-backed Durable Object on its own socket) + a node:http keep-alive client on the same host",
  what: "the least a durable-before-ack webhook costs here: one Worker->DO RPC and one committed INSERT, next to GET /health; no EdgeClaw code",
  targets: { one_at_a_time_p50: 2, burst_new_sessions_p99: 5, paced_p99: 3 },
  counts: { serial: SERIAL, burst: CHATS, bursts: BURSTS, paced: PACED_RATE * 2 },
  by_state: byState,
};
mkdirSync(join(root, "bench-results"), { recursive: true });
writeFileSync(join(root, "bench-results", "ack-floor.json"), `${JSON.stringify(result, null, 2)}\n`);
console.log("[bench:ack-floor] wrote bench-results/ack-floor.json");
