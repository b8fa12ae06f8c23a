// Where a webhook ack's CPU goes: the channels stack (test/e2e/channels-stack.ts) with the
// Worker on workerd through Miniflare (workerd-host.ts) and its inspector on
// WORKERD_INSPECTOR_PORT (9229 by default); PROFILE_N Telegram deliveries (1000 by default), sent
// as PROFILE_MODE says: `serial` (one at a time to chats that already have a session) or `burst`
// (PROFILE_BURST new chats at once, repeated). The deliveries' turns run too (each message is
// answered), so the figures that count are the inclusive ones of the accept path's own
// functions, given in ms per 1,000 acks; the workerd process's whole CPU (user + system, from
// /proc, turns included) is printed beside them. PROFILE_STATE_DIR puts the local state
// elsewhere (e.g. /dev/shm). `node test/bench/channels-profile.ts`. A diagnostic, not a benchmark.
import { startStack, deliverUntilAcked } from "../e2e/channels-stack.ts";
import { startProfile, summarize } from "./cpu-profile.ts";
import { workerdCpuMs } from "./workerd-cpu.ts";
import { startWorkerd } from "./workerd-host.ts";

const N = Number(process.env.PROFILE_N ?? 1000);
const MODE = process.env.PROFILE_MODE ?? "serial";
const BURST = Number(process.env.PROFILE_BURST ?? 200);
const PORT = Number((process.env.WORKERD_INSPECTOR_PORT ??= "9229"));

const stack = await startStack({ replyTokens: 4, host: startWorkerd, stateParent: process.env.PROFILE_STATE_DIR, log: (m) => console.log(`[profile] ${m}`) });
try {
  const driver = stack.drivers.telegram;
  let seq = 1;
  const chats = Array.from({ length: 20 }, (_, i) => 40_000_000 + i);
  await Promise.all(chats.map((chat) => deliverUntilAcked(stack, driver.delivery(chat, seq++, "warm-up"))));
  const INTERVAL_US = 100;
  const profiler = await startProfile(PORT, INTERVAL_US);
  const cpuBefore = workerdCpuMs() ?? NaN;
  const started = performance.now();
  const acks: number[] = [];
  if (MODE === "burst") {
    for (let round = 0; round * BURST < N; round++) {
      const fresh = Array.from({ length: BURST }, (_, i) => 50_000_000 + round * BURST + i);
      acks.push(...(await Promise.all(fresh.map(async (chat) => (await deliverUntilAcked(stack, driver.delivery(chat, seq++, "burst"))).ms))));
    }
  } else {
    for (let i = 0; i < N; i++) acks.push((await deliverUntilAcked(stack, driver.delivery(chats[i % chats.length] as number, seq++, "serial"))).ms);
  }
  const wall = performance.now() - started;
  const cpu = (workerdCpuMs() ?? NaN) - cpuBefore;
  const { self: selfBy, inclusive: incl } = summarize(await profiler.stop(), INTERVAL_US);
  const per1000 = (us: number) => `${((us / 1000) * (1000 / acks.length)).toFixed(0)} ms`;
  const sorted = [...acks].sort((a, b) => a - b);
  console.log(`mode ${MODE}, ${acks.length} acks in ${wall.toFixed(0)} ms; ack p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(2)} ms`);
  console.log(`workerd process CPU (turns included): ${cpu} ms, ${((cpu * 1000) / acks.length).toFixed(0)} ms per 1,000 acks`);
  console.log("self (ms per 1,000 acks):");
  for (const [l, us] of selfBy.slice(0, 40)) console.log(`  ${per1000(us)} ${l}`);
  console.log("inclusive (ms per 1,000 acks):");
  for (const [l, us] of incl.slice(0, 70)) console.log(`  ${per1000(us)} ${l}`);
} finally {
  await stack.close();
}
