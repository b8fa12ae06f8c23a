// Runs before each test file inside workerd: bring the local D1 to the current schema, and keep
// the Worker's per-request and per-turn log lines out of the output.
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// The Worker writes one JSON line per request and per agent turn (workers/observability/log.ts):
// some 16,000 in a run. Printing them is the main process's work while the timing-sensitive tests
// run, and says nothing (test/observability/ checks the lines themselves by spying on console.log,
// which wraps this function and still sees every call), so they are dropped here; every other
// console line still shows. (vitest's onConsoleLog cannot do it: console interception is off for
// this project, vitest.config.ts says why.)
// Wrapped once per isolate, however many files run in it.
const FILTERED = Symbol.for("edgeclaw.test.log-filter");
if (!(console.log as { [FILTERED]?: true })[FILTERED]) {
  const print = console.log.bind(console);
  const filtered = (...args: unknown[]) => {
    const first = args[0];
    if (typeof first === "string" && (first.startsWith('{"msg":"request"') || first.startsWith('{"msg":"turn"'))) return;
    print(...args);
  };
  console.log = Object.assign(filtered, { [FILTERED]: true as const });
}
