// Channels benchmark: `npm run bench -- channels` -> bench-results/channels.json.
// The whole path on this machine (test/e2e/channels-stack.ts): Telegram-shaped webhooks into
// `wrangler dev`, the session Durable Objects, the gpu-backend's tiny model, replies at the fake
// Telegram Bot API. After a warm-up, ROUNDS rounds of 200 deliveries are fired at once, one to
// each of 200 chats (the first round meets 200 new sessions), and each round's replies are
// awaited before the next:
//   ack_*      time until the webhook answered 200 (the message is durable in its session)
//   reply_*    time from sending the webhook to the reply arriving at the fake platform
//   lost       unique messages without a reply; duplicated: replies beyond one per message
// For scale, the same run measures GET /health fired 200 at once (the floor of `wrangler dev`
// on this machine: its proxy and workerd's one thread) and the ack latency of 200 deliveries
// paced at PACED_RATE per second (Telegram keeps at most 40-100 connections per bot open).
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { deliverUntilAcked, startStack, update, type StackOptions } from "../e2e/channels-stack.ts";

const root = resolve(import.meta.dirname, "../..");
const CHATS = Number(process.env.CHANNELS_BENCH_CHATS ?? 200);
const ROUNDS = Number(process.env.CHANNELS_BENCH_ROUNDS ?? 3);
const REPLY_TOKENS = Number(process.env.CHANNELS_BENCH_REPLY_TOKENS ?? 8);
const PACED_RATE = Number(process.env.CHANNELS_BENCH_PACED_RATE ?? 100);

function log(msg: string) {
  console.log(`[bench:channels] ${msg}`);
}

function pct(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round((sorted[i] ?? NaN) * 100) / 100;
}

const host = process.env.CHANNELS_BENCH_HOST_MODULE ? ((await import(process.env.CHANNELS_BENCH_HOST_MODULE)) as { startWorkerd: StackOptions["host"] }).startWorkerd : undefined;
const stack = await startStack({ replyTokens: REPLY_TOKENS, log, stateParent: process.env.CHANNELS_BENCH_STATE_DIR, host });
try {
  let nextUpdate = 1;
  const waitForReplies = async (count: number, timeoutMs = 180_000) => {
    const until = Date.now() + timeoutMs;
    let sent = await stack.sent();
    while (sent.length < count && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      sent = await stack.sent();
    }
    return sent;
  };

  log("warm-up: 50 deliveries to other chats");
  const warm = Array.from({ length: 50 }, (_, i) => 10_000_000 + i);
  await Promise.all(warm.map((chat) => deliverUntilAcked(stack, update(nextUpdate++, chat, "warm-up"))));
  await waitForReplies(warm.length);

  const health = await Promise.all(
    Array.from({ length: CHATS }, async () => {
      const started = performance.now();
      await (await fetch(`${stack.base}/health`)).text();
      return performance.now() - started;
    }),
  );
  log(`floor: GET /health x${CHATS} at once: p50 ${pct(health, 50)} ms, p99 ${pct(health, 99)} ms`);

  const chats = Array.from({ length: CHATS }, (_, i) => 20_000_000 + i);
  const acks: number[] = [];
  const replies: number[] = [];
  const rounds: { round: number; ack_p50_ms: number; ack_p99_ms: number; reply_p50_ms: number; reply_p99_ms: number }[] = [];
  let expected = warm.length;
  for (let round = 1; round <= ROUNDS; round++) {
    const sentAt = new Map<string, number>();
    const roundAcks = await Promise.all(
      chats.map(async (chat) => {
        const u = update(nextUpdate++, chat, `round ${round}`);
        sentAt.set(String(chat), Date.now());
        return (await deliverUntilAcked(stack, u, 50)).ms;
      }),
    );
    expected += chats.length;
    const sent = await waitForReplies(expected);
    const roundReplies: number[] = [];
    for (const chat of chats) {
      const mine = sent.filter((m) => m.chat_id === String(chat));
      const reply = mine[round - 1];
      if (reply) roundReplies.push(reply.at - (sentAt.get(String(chat)) as number));
    }
    acks.push(...roundAcks);
    replies.push(...roundReplies);
    rounds.push({ round, ack_p50_ms: pct(roundAcks, 50), ack_p99_ms: pct(roundAcks, 99), reply_p50_ms: pct(roundReplies, 50), reply_p99_ms: pct(roundReplies, 99) });
    log(`round ${round}: ${JSON.stringify(rounds.at(-1))}`);
  }
  const pacedChats = Array.from({ length: CHATS }, (_, i) => 30_000_000 + i);
  const paced = await Promise.all(
    pacedChats.map(async (chat, i) => {
      await new Promise((r) => setTimeout(r, (i * 1000) / PACED_RATE));
      return (await deliverUntilAcked(stack, update(nextUpdate++, chat, "paced"), 50)).ms;
    }),
  );
  expected += pacedChats.length;
  await waitForReplies(expected);
  log(`paced at ${PACED_RATE}/s: ack p50 ${pct(paced, 50)} ms, p99 ${pct(paced, 99)} ms`);
  // Anything sent twice would arrive a little later.
  await new Promise((r) => setTimeout(r, 3000));
  const final = await stack.sent();
  let lost = 0;
  let duplicated = 0;
  for (const chat of [...warm, ...chats, ...pacedChats]) {
    const want = chats.includes(chat) ? ROUNDS : 1;
    const got = final.filter((m) => m.chat_id === String(chat)).length;
    lost += Math.max(0, want - got);
    duplicated += Math.max(0, got - want);
  }
  const result = {
    bench: "channels",
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown", node: process.version },
    setup: {
      gateway: "wrangler dev (workerd, local D1 and Durable Objects), --log-level=warn, X_LOCAL_OBSERVABILITY=false",
      model: `gpu-backend, generated tiny model (eos never), ${REPLY_TOKENS} reply tokens, 4 slots, 1 thread`,
      platform: "test/fakes/telegram.ts (in the bench process)",
      concurrency: CHATS,
      chats: CHATS,
      rounds: ROUNDS,
      deliveries: CHATS * ROUNDS,
    },
    ack_p50_ms: pct(acks, 50),
    ack_p99_ms: pct(acks, 99),
    reply_p50_ms: pct(replies, 50),
    reply_p99_ms: pct(replies, 99),
    lost,
    duplicated,
    rounds,
    floor_health_p50_ms: pct(health, 50),
    floor_health_p99_ms: pct(health, 99),
    paced: { rate_per_s: PACED_RATE, deliveries: pacedChats.length, ack_p50_ms: pct(paced, 50), ack_p99_ms: pct(paced, 99) },
    targets: { ack_p99_ms: 50, lost: 0, duplicated: 0 },
    met: { ack_p99_ms: pct(acks, 99) <= 50, lost: lost === 0, duplicated: duplicated === 0 },
  };
  mkdirSync(join(root, "bench-results"), { recursive: true });
  writeFileSync(join(root, "bench-results", "channels.json"), `${JSON.stringify(result, null, 2)}\n`);
  log(`ack p50 ${result.ack_p50_ms} ms, p99 ${result.ack_p99_ms} ms; reply p50 ${result.reply_p50_ms} ms, p99 ${result.reply_p99_ms} ms; lost ${lost}, duplicated ${duplicated}`);
  log("wrote bench-results/channels.json");
} finally {
  await stack.close();
}
