// CLI: npm run -w gpu-backend make-tiny-model -- <out.gguf> [--eos never|always|sometimes] [--dim N] [--layers N]
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { writeTinyModel, type EosMode } from "../models/tiny-model.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    eos: { type: "string", default: "sometimes" },
    dim: { type: "string", default: "64" },
    layers: { type: "string", default: "2" },
    seed: { type: "string", default: "42" },
  },
});
const eos = values.eos as EosMode;
if (positionals.length !== 1 || !["never", "always", "sometimes"].includes(eos)) {
  console.error("usage: make-tiny-model <out.gguf> [--eos never|always|sometimes] [--dim 64] [--layers 2] [--seed 42]");
  process.exit(2);
}
// npm runs workspace scripts inside the workspace folder; resolve against where the user typed the command.
const out = resolve(process.env.INIT_CWD ?? process.cwd(), positionals[0]!);
await writeTinyModel(out, { eos, dim: Number(values.dim), layers: Number(values.layers), seed: Number(values.seed) });
console.log(`wrote ${out}`);
