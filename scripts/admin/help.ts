// --help at every level, written from the same tables the requests are built from.
import { AUTO_TOKEN_TTL_S, DEFAULT_URL } from "./auth.ts";
import { resources } from "./resources/index.ts";
import { fieldOf, type Flag, type Resource, type Verb } from "./spec.ts";

const CMD = "npm run admin --";

const GLOBAL = `Options for every command:
  --url URL        the gateway (default: EDGECLAW_URL, else ${DEFAULT_URL})
  --token JWT      an admin token (default: EDGECLAW_ADMIN_TOKEN; when neither is set and the local
                   .dev.vars (or EDGECLAW_DEV_VARS) holds ADMIN_JWT_SECRET, as after \`npm start\`,
                   a ${AUTO_TOKEN_TTL_S / 60}-minute owner token is minted in memory for the command and never shown)
  --target-region NAME
                   send X-EdgeClaw-Region: NAME (default EDGECLAW_REGION): at a multi-region deployment's
                   global entry, the region a token without one is for
  --json           print the API's JSON answer exactly as sent (for scripts)
  --dry-run        print the request (method, URL, body) instead of sending it (single-request verbs)
  -h, --help       this help; also after a resource or a verb

Exit codes: 0 done; 1 the API refused (its status and message on stderr) or was unreachable;
2 wrong usage.`;

function pad(text: string, width: number): string {
  return text.length >= width ? `${text}  ` : text.padEnd(width);
}

export function globalHelp(): string {
  const width = Math.max(...resources.map((r) => r.name.length)) + 2;
  const lines = resources.map((r) => `  ${pad(r.name, width)}${r.summary}`);
  return `EdgeClaw admin CLI: every resource of the admin API (/admin).

Usage: ${CMD} <resource> <verb> [arguments] [options]
       ${CMD} <resource> --help        the verbs of a resource
       ${CMD} <resource> <verb> --help the arguments and options of a verb

Resources:
${lines.join("\n")}

${GLOBAL}

Examples:
  ${CMD} tenants list
  ${CMD} keys create --tenant demo --name ci
  printf %s "$OPENAI_KEY" | ${CMD} secrets set openai --tenant demo
  TOKEN=$(npm run -s admin -- token --role owner)   (-s: npm prints nothing else)

Full reference: docs/admin-cli.md`;
}

function synopsis(resource: Resource, verb: Verb): string {
  const args = (verb.args ?? []).map((a) => `<${a.name}>`);
  const required = (verb.flags ?? []).filter((f) => f.required).map((f) => flagUsage(f));
  const extra = [(verb.flags ?? []).some((f) => !f.required) ? "[options]" : "", verb.file || verb.fileField ? "[--file FILE|-]" : "", verb.confirm ? "--yes" : ""].filter((s) => s !== "");
  const verbWord = resource.defaultVerb === verb.name ? `[${verb.name}]` : verb.name;
  return [CMD, resource.name, verbWord, ...args, ...required, ...extra].join(" ");
}

function flagUsage(f: Flag): string {
  return f.type === "boolean" ? `--${f.name}` : `--${f.name} ${f.meta ?? fieldOf(f).split(".").pop()!.toUpperCase()}`;
}

export function resourceHelp(resource: Resource): string {
  const width = Math.max(...resource.verbs.map((v) => v.name.length)) + 2;
  const aliases = resource.aliases?.length ? ` (also: ${resource.aliases.join(", ")})` : "";
  const dflt = resource.defaultVerb ? `\nWithout a verb: ${resource.defaultVerb}.` : "";
  return `${resource.name}${aliases}: ${resource.summary}${dflt}

Verbs:
${resource.verbs.map((v) => `  ${pad(v.name, width)}${v.summary}`).join("\n")}

${CMD} ${resource.name} <verb> --help   for a verb's arguments and options.`;
}

export function verbHelp(resource: Resource, verb: Verb): string {
  const out = [`${resource.name} ${verb.name}: ${verb.summary}`, "", `Usage: ${synopsis(resource, verb)}`];
  if (verb.method && verb.path) out.push(`Calls: ${verb.method} /admin${verb.path}`);
  const rows: [string, string][] = [];
  for (const a of verb.args ?? []) rows.push([`<${a.name}>`, a.help]);
  for (const f of verb.flags ?? []) rows.push([flagUsage(f), `${f.help}${f.required ? " (required)" : ""}`]);
  if (verb.file) rows.push(["--file FILE|-", "the whole request body as JSON (a file, or - for stdin); flags override its fields"]);
  if (verb.fileField) rows.push(["--file FILE|-", `the ${verb.fileField} as JSON (a file, or - for stdin)`]);
  if (verb.confirm) rows.push(["--yes", `confirm: ${verb.confirm}`]);
  if (rows.length > 0) {
    const width = Math.min(28, Math.max(...rows.map(([k]) => k.length)) + 2);
    out.push("", "Arguments and options:", ...rows.map(([k, h]) => `  ${pad(k, width)}${h}`));
  }
  if (verb.notes?.length) out.push("", ...verb.notes);
  if (verb.examples?.length) out.push("", "Examples:", ...verb.examples.map((e) => (e.startsWith("-s ") ? `  npm run -s admin -- ${e.slice(3)}` : `  ${CMD} ${e}`)));
  out.push("", "Global options (--url, --token, --target-region, --json, --dry-run): npm run admin -- --help");
  return out.join("\n");
}
