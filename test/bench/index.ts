// npm run bench [-- <name>...]: runs the named benchmarks, or every one it knows.
//   router        test/bench/router.ts (writes bench-results/router.json)
//   channels      test/bench/channels.ts (writes bench-results/channels.json)
//   scheduler     test/bench/scheduler.ts (writes bench-results/scheduler.json)
//   regions       test/bench/regions.ts (writes bench-results/regions.json): the cost of forwarding
//   ack-floor     test/bench/ack-floor.ts (writes bench-results/ack-floor.json): the host's floor
//                 under the channels bench's ack targets (a bare Worker and Durable Object)
//   gpu-backend   the gpu-backend workspace's serving benchmark (npm run -w gpu-backend bench)
import { spawnSync } from "node:child_process";

const benches: Record<string, [string, string[]]> = {
  router: [process.execPath, ["test/bench/router.ts"]],
  channels: [process.execPath, ["test/bench/channels.ts"]],
  scheduler: [process.execPath, ["test/bench/scheduler.ts"]],
  regions: [process.execPath, ["test/bench/regions.ts"]],
  "ack-floor": [process.execPath, ["test/bench/ack-floor.ts"]],
  "gpu-backend": ["npm", ["run", "-w", "gpu-backend", "bench"]],
};

const asked = process.argv.slice(2);
const unknown = asked.filter((n) => !(n in benches));
if (unknown.length > 0) {
  console.error(`unknown bench: ${unknown.join(", ")} (known: ${Object.keys(benches).join(", ")})`);
  process.exit(2);
}
let failed = false;
for (const name of asked.length > 0 ? asked : Object.keys(benches)) {
  const [command, args] = benches[name] as [string, string[]];
  console.log(`\n=== bench: ${name}`);
  const run = spawnSync(command, args, { stdio: "inherit" });
  if (run.status !== 0) {
    console.error(`bench ${name} failed (exit ${run.status})`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
