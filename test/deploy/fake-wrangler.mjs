#!/usr/bin/env node
// A stand-in for the wrangler CLI (test/deploy/deploy.test.ts runs `npm run deploy` with
// EDGECLAW_WRANGLER pointing here). It records every call (argv and stdin) and answers the few
// commands the deploy script uses in the shapes wrangler 4.155.0 prints: `d1 list --json` a JSON
// list of {uuid, name, jurisdiction}, `d1 create` adds one, `queues info` fails with API code
// 11000 for a missing queue and `queues create` adds one, `deployments status` fails with API
// code 10007 for a Worker that does not exist, and `deploy` refuses (API code 10143) a config
// whose service bindings name a Worker that does not exist, else records the Worker and prints
// its workers.dev URL. It is the CLI contract as recorded from wrangler's source and Cloudflare's
// documented API errors, not Cloudflare.
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";

const args = process.argv.slice(2);
let input = "";
try {
  input = readFileSync(0, "utf8");
} catch {
  input = "";
}
appendFileSync(process.env.FAKE_WRANGLER_LOG, `${JSON.stringify({ args, input, token: process.env.CLOUDFLARE_API_TOKEN ?? null })}\n`);
const statePath = process.env.FAKE_WRANGLER_STATE;
const state = JSON.parse(readFileSync(statePath, "utf8"));
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (args[0] === "d1" && args[1] === "list") {
  console.log(JSON.stringify(state.databases, null, 2));
} else if (args[0] === "d1" && args[1] === "create") {
  const uuid = `1111111${state.databases.length}-2222-4333-8444-555555555555`;
  state.databases.push({ uuid, name: args[2], jurisdiction: flag("--jurisdiction") ?? null, created_at: "2026-11-29T00:00:00Z" });
  writeFileSync(statePath, JSON.stringify(state));
  console.log(`✅ Successfully created DB '${args[2]}'`);
} else if (args[0] === "queues" && args[1] === "info") {
  const q = (state.queues ?? []).find((x) => x.name === args[2]);
  if (!q) {
    console.error(`✘ [ERROR] A request to the Cloudflare API (/accounts/fake/queues) failed.\n\n  Queue ${args[2]} does not exist. [code: 11000]`);
    process.exit(1);
  }
  console.log(`Queue Name: ${q.name}`);
} else if (args[0] === "queues" && args[1] === "create") {
  state.queues = [...(state.queues ?? []), { name: args[2], jurisdiction: flag("--jurisdiction") ?? null }];
  writeFileSync(statePath, JSON.stringify(state));
  console.log(`✅ Created queue ${args[2]}.`);
} else if (args[0] === "d1" && args[1] === "migrations") {
  console.log("🚣 migrations applied");
} else if (args[0] === "secret" && args[1] === "bulk") {
  for (const key of Object.keys(JSON.parse(input))) console.log(`✨ Successfully created secret for key: ${key}`);
} else if (args[0] === "deployments" && args[1] === "status") {
  const name = flag("--name");
  if (!state.workers.includes(name)) {
    console.error(`✘ [ERROR] A request to the Cloudflare API (/accounts/fake/workers/scripts/${name}/deployments) failed.\n\n  workers.api.error.script_not_found [code: 10007]`);
    process.exit(1);
  }
  console.log(JSON.stringify({ id: "dep", versions: [] }));
} else if (args[0] === "deploy") {
  // The generated configs are JSONC with whole-line comments; the stub's is plain JSON.
  const text = readFileSync(flag("--config"), "utf8")
    .split("\n")
    .filter((l) => !l.trim().startsWith("//"))
    .join("\n");
  const config = JSON.parse(text);
  const env = flag("--env");
  const target = env ? config.env[env] : config;
  const name = target.name;
  for (const s of target.services ?? []) {
    if (!state.workers.includes(s.service)) {
      console.error(`✘ [ERROR] A request to the Cloudflare API (/accounts/fake/workers/scripts/${name}) failed.\n\n  Could not resolve service binding '${s.binding}'. Target script '${s.service}' not found. [code: 10143]`);
      process.exit(1);
    }
  }
  if (!state.workers.includes(name)) state.workers.push(name);
  state.deployed = [...(state.deployed ?? []), { name, stub: !env }];
  writeFileSync(statePath, JSON.stringify(state));
  if (target.workers_dev === false) console.log(`Uploaded ${name} (0.50 sec)\nNo deploy targets for ${name} (0.10 sec)`);
  else console.log(`Uploaded ${name} (1.23 sec)\nDeployed ${name} triggers (0.50 sec)\n  https://${name}.example-account.workers.dev\nCurrent Version ID: 0000`);
} else {
  console.error(`fake wrangler: unexpected ${args.join(" ")}`);
  process.exit(9);
}
