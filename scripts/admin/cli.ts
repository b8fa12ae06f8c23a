// The admin CLI: `npm run admin -- <resource> <verb> [args] [--flags]`. Finds the resource and
// verb in the tables of scripts/admin/resources/, parses the verb's flags (node:util parseArgs,
// strict), builds the request, sends it and prints the answer. Exit codes: 0 done, 1 the API
// refused or could not be reached, 2 wrong usage (one line saying what, one with a hint).
import { parseArgs } from "node:util";
import { adminToken, baseUrl } from "./auth.ts";
import { keyValues, table } from "./format.ts";
import { globalHelp, resourceHelp, verbHelp } from "./help.ts";
import { ApiFailure, fillPath, NetworkFailure, requestUrl, send, type ApiResponse, type Query } from "./http.ts";
import { readJsonFile, type Io } from "./io.ts";
import { resources } from "./resources/index.ts";
import { fieldOf, UsageError, type Flag, type Output, type Resource, type RunContext, type Values, type Verb } from "./spec.ts";

// Options every command takes, wherever they appear.
export const globalOptions = {
  url: { type: "string" },
  token: { type: "string" },
  "target-region": { type: "string" },
  json: { type: "boolean" },
  "dry-run": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const GLOBAL_VALUE_OPTIONS = new Set(["--url", "--token", "--target-region"]);
const PAGE_HINTS: Record<string, string> = { next_before_id: "--before-id", next_after: "--after", next_cursor: "--cursor" };

export function findResource(name: string): Resource | undefined {
  return resources.find((r) => r.name === name || r.aliases?.includes(name));
}

interface Located {
  resource?: string;
  verb?: string;
}

// The resource is the first positional; the verb the positional right after it, unless a flag of
// the verb's own comes first (`token --role owner` has no verb). Values of global options skipped.
export function locate(argv: string[]): Located {
  const found: Located = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (GLOBAL_VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith("-")) {
      if (found.resource !== undefined && ![...GLOBAL_VALUE_OPTIONS].some((o) => a.startsWith(`${o}=`)) && !["--json", "--dry-run", "--help", "-h"].includes(a)) return found;
      continue;
    }
    if (found.resource === undefined) found.resource = a;
    else return { ...found, verb: a };
  }
  return found;
}

function optionsFor(verb: Verb) {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = { ...globalOptions };
  for (const f of verb.flags ?? []) options[f.name] = { type: f.type === "boolean" ? "boolean" : "string" };
  if (verb.file || verb.fileField) options.file = { type: "string" };
  if (verb.confirm) options.yes = { type: "boolean" };
  return options;
}

export interface Invocation {
  resource: Resource;
  verb: Verb;
  values: Values;
  args: Record<string, string>;
}

// argv -> what to do, or help text (`help`), or a UsageError.
export function parse(argv: string[]): Invocation | { help: string } {
  const { resource: resName, verb: verbName } = locate(argv);
  const wantsHelp = argv.includes("--help") || argv.includes("-h");
  if (resName === undefined || resName === "help") {
    if (wantsHelp || resName === "help") return { help: globalHelp() };
    throw new UsageError("which resource?", "npm run admin -- --help   (lists them)");
  }
  const resource = findResource(resName);
  if (!resource) throw new UsageError(`unknown resource '${resName}'`, "npm run admin -- --help   (lists the resources)");
  if (verbName === undefined && wantsHelp) return { help: resourceHelp(resource) };
  const name = verbName ?? resource.defaultVerb;
  if (name === undefined) {
    throw new UsageError(`${resource.name}: which verb?`, `npm run admin -- ${resource.name} --help   (lists ${resource.verbs.map((v) => v.name).join(", ")})`);
  }
  if (name === "help") return { help: resourceHelp(resource) };
  const verb = resource.verbs.find((v) => v.name === name);
  if (!verb) throw new UsageError(`unknown verb '${name}' for ${resource.name}`, `npm run admin -- ${resource.name} --help   (verbs: ${resource.verbs.map((v) => v.name).join(", ")})`);
  const hint = `npm run admin -- ${resource.name} ${verb.name} --help`;
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: optionsFor(verb), allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
  } catch (err) {
    // node's text goes on about positionals after '--'; the first sentence is what matters.
    const message = err instanceof Error ? (err.message.split(". To specify")[0] as string) : String(err);
    throw new UsageError(message.replace("Unknown option", "unknown option"), hint);
  }
  if (parsed.values.help) return { help: verbHelp(resource, verb) };
  // Drop the resource and verb words themselves.
  const positionals = parsed.positionals.slice(verbName === undefined ? 1 : 2);
  const expected = verb.args ?? [];
  if (positionals.length !== expected.length) {
    const want = expected.length === 0 ? "no arguments" : expected.map((a) => `<${a.name}>`).join(" ");
    // The count, not the words: a mistyped command may hold a secret (`secrets set name VALUE`).
    throw new UsageError(`${resource.name} ${verb.name} takes ${want}, got ${positionals.length === 0 ? "none" : `${positionals.length} argument${positionals.length === 1 ? "" : "s"}`}`, hint);
  }
  const args = Object.fromEntries(expected.map((a, i) => [a.name, positionals[i] as string]));
  if (verb.confirm && !parsed.values.yes) throw new UsageError(`${verb.confirm}: add --yes to go ahead`, hint);
  return { resource, verb, values: parsed.values, args };
}

function convert(flag: Flag | { name: string; type?: string }, raw: string | boolean, hint: string): unknown {
  if (typeof raw === "boolean") return "value" in flag && flag.value !== undefined ? flag.value : raw;
  switch (flag.type) {
    case "number": {
      const n = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${flag.name} must be a number, got '${raw}'`, hint);
      return n;
    }
    case "list":
      return raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
    case "json":
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        throw new UsageError(`--${flag.name} must be JSON, got '${raw.slice(0, 40)}'`, hint);
      }
    default:
      return raw;
  }
}

function setField(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let at = target;
  for (const p of parts.slice(0, -1)) {
    const next = at[p];
    if (next === null || typeof next !== "object" || Array.isArray(next)) at[p] = {};
    at = at[p] as Record<string, unknown>;
  }
  at[parts[parts.length - 1] as string] = value;
}

export interface Request {
  method: NonNullable<Verb["method"]>;
  path: string;
  query: Query;
  body: unknown;
}

// The request a generic verb sends: path arguments, then flags into the query (GET, DELETE) or
// the body (POST, PUT, PATCH), over the --file body when there is one.
export async function buildRequest(inv: Invocation, io: Io): Promise<Request> {
  const { resource, verb, values, args } = inv;
  const hint = `npm run admin -- ${resource.name} ${verb.name} --help`;
  if (!verb.method || !verb.path) throw new Error(`${resource.name} ${verb.name} has no request`);
  const inBody = verb.method === "POST" || verb.method === "PUT" || verb.method === "PATCH";
  const fields: Record<string, unknown> = {};
  let body: Record<string, unknown> = {};
  const file = typeof values.file === "string" ? await readJsonFile(io, values.file) : undefined;
  if (file !== undefined) {
    if (verb.fileField) body[verb.fileField] = file;
    else if (file === null || typeof file !== "object" || Array.isArray(file)) throw new UsageError("--file must hold a JSON object (the request body)", hint);
    else body = { ...(file as Record<string, unknown>) };
  }
  for (const flag of verb.flags ?? []) {
    const raw = values[flag.name];
    if (raw === undefined) {
      if (flag.required && file === undefined) throw new UsageError(`--${flag.name} is required${verb.file ? " (or --file with the whole body)" : ""}`, hint);
      continue;
    }
    setField(fields, fieldOf(flag), convert(flag, raw, hint));
  }
  for (const arg of verb.args ?? []) {
    if (verb.path.includes(`:${arg.name}`)) continue;
    setField(fields, arg.field ?? arg.name, convert(arg, args[arg.name] as string, hint));
  }
  const path = fillPath(verb.path, args);
  if (!inBody) return { method: verb.method, path, query: fields as Query, body: undefined };
  for (const [k, v] of Object.entries(fields)) setField(body, k, v);
  if (verb.build) body = verb.build(values, body);
  const hasBody = Object.keys(body).length > 0 || (verb.flags?.length ?? 0) > 0 || verb.file || verb.fileField;
  return { method: verb.method, path, query: {}, body: hasBody ? body : undefined };
}

export function printResponse(io: Io, json: boolean, res: ApiResponse, output: Output = {}): void {
  if (json || res.json === undefined) {
    if (res.text !== "") io.out(res.text);
    return;
  }
  const body = res.json;
  if (output.kind === "document" || body === null || typeof body !== "object" || Array.isArray(body)) {
    io.out(JSON.stringify(body, null, 2));
    return;
  }
  const object = body as Record<string, unknown>;
  if (Array.isArray(object.data) && output.kind !== "object") {
    const rest = Object.fromEntries(Object.entries(object).filter(([k, v]) => k !== "data" && !(k in PAGE_HINTS) && v !== null && typeof v !== "object"));
    if (Object.keys(rest).length > 0) io.out(`${keyValues(rest)}\n`);
    io.out(table(object.data as Record<string, unknown>[], output.columns));
    for (const [k, flag] of Object.entries(PAGE_HINTS)) {
      if (object[k] !== null && object[k] !== undefined) io.err(`more rows: add ${flag} ${String(object[k])}`);
    }
    return;
  }
  io.out(keyValues(object));
}

export async function main(argv: string[], io: Io): Promise<number> {
  try {
    const inv = parse(argv);
    if ("help" in inv) {
      io.out(inv.help);
      return 0;
    }
    const { values, verb } = inv;
    const json = values.json === true;
    const base = baseUrl(io, values.url as string | undefined);
    if (values["dry-run"] && verb.run) throw new UsageError(`--dry-run shows plain requests; ${inv.resource.name} ${verb.name} has steps of its own`, "leave out --dry-run");
    if (values["dry-run"]) {
      const req = await buildRequest(inv, io);
      const region = (values["target-region"] as string | undefined) ?? io.env.EDGECLAW_REGION;
      io.out(`${req.method} ${requestUrl(base, req.path, req.query)}${region ? ` (X-EdgeClaw-Region: ${region})` : ""}`);
      if (req.body !== undefined) io.out(JSON.stringify(req.body, null, 2));
      return 0;
    }
    let token: string | undefined;
    const ctx: RunContext = {
      values,
      args: inv.args,
      io,
      json,
      api: async (method, path, options = {}) => {
        token ??= await adminToken(io, values.token as string | undefined, base);
        return send(base, token, method, path, options.query, options.body, (values["target-region"] as string | undefined) ?? io.env.EDGECLAW_REGION);
      },
      print: (res, output) => printResponse(io, json, res, output ?? verb.output),
    };
    if (verb.run) {
      await verb.run(ctx);
      return 0;
    }
    const req = await buildRequest(inv, io);
    ctx.print(await ctx.api(req.method, req.path, { query: req.query, body: req.body }));
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`error: ${err.message}`);
      io.err(`hint: ${err.hint}`);
      return 2;
    }
    if (err instanceof ApiFailure) {
      io.err(`error: ${err.status}${err.code ? ` ${err.code}` : ""}: ${err.message}`);
      if (err.status === 401 && !argv.some((a) => a.startsWith("--token")) && !io.env.EDGECLAW_ADMIN_TOKEN) {
        io.err("hint: the token minted from the local .dev.vars is not valid here: pass --token or set EDGECLAW_ADMIN_TOKEN");
      }
      return 1;
    }
    io.err(`error: ${err instanceof NetworkFailure || err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
