// The Worker secrets `npm run deploy` puts: from a dotenv file of the region (default
// .secrets/<region>.env, gitignored) and from the environment. Values are only ever handed to
// `wrangler secret bulk` on its stdin; nothing here prints or logs one.
import { existsSync, readFileSync } from "node:fs";
import { channelSecretPrefixes } from "../../schema/channels.ts";

// Exactly the names the Worker reads (workers/env.ts, workers/auth/secrets.ts): two fixed ones and
// the deployment-wide credential prefixes an owner's rows may name.
export const FIXED_SECRETS = ["ADMIN_JWT_SECRET", "VAULT_KEYS", "METRICS_TOKEN"] as const;
// OTEL_EXPORTER_OTLP_*: the trace exporter's endpoint and its headers (which usually carry the
// collector's credential), read by workers/observability/.
export const SECRET_PREFIXES = ["PROVIDER_", "WEBHOOK_", "OTEL_EXPORTER_OTLP_", ...Object.values(channelSecretPrefixes)] as const;
const NAME = /^[A-Z][A-Z0-9_]{0,127}$/;

export function isSecretName(name: string): boolean {
  if (!NAME.test(name)) return false;
  if ((FIXED_SECRETS as readonly string[]).includes(name)) return true;
  return SECRET_PREFIXES.some((p) => name.startsWith(p) && name.length > p.length);
}

// dotenv lines KEY=value (optionally quoted, `export ` allowed, # comments); no $VAR expansion,
// so a value is taken literally.
export function parseDotenv(text: string, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = (eq > 0 ? line.slice(0, eq) : line).replace(/^export\s+/, "").trim();
    if (eq <= 0 || !NAME.test(key)) throw new Error(`${source}:${i + 1}: expected NAME=value`);
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
    out[key] = value;
  }
  return out;
}

export interface SecretSet {
  values: Record<string, string>;
  // Where each name came from ("file" or "environment"), for the plan.
  sources: Record<string, "file" | "environment">;
  file: string | null;
  warnings: string[];
}

// The region's secrets: the environment's (names above), then the file's, which win (the file is
// the region's own; the environment is shared by every region of `--all`). `fromEnvironment`
// false (the global entry) takes only the file.
export function collectSecrets(opts: { file: string; fileRequired: boolean; env: NodeJS.ProcessEnv; fromEnvironment: boolean }): SecretSet {
  const values: Record<string, string> = {};
  const sources: Record<string, "file" | "environment"> = {};
  if (opts.fromEnvironment) {
    for (const [name, value] of Object.entries(opts.env)) {
      if (value && isSecretName(name)) {
        values[name] = value;
        sources[name] = "environment";
      }
    }
  }
  let file: string | null = null;
  if (existsSync(opts.file)) {
    file = opts.file;
    const parsed = parseDotenv(readFileSync(opts.file, "utf8"), opts.file);
    for (const [name, value] of Object.entries(parsed)) {
      // A typo (ADMIN_JWT_SECRT) would otherwise deploy without the secret it meant.
      if (!isSecretName(name)) throw new Error(`${opts.file}: ${name} is not a secret the Worker reads (${FIXED_SECRETS.join(", ")}, ${SECRET_PREFIXES.map((p) => `${p}*`).join(", ")})`);
      values[name] = value;
      sources[name] = "file";
    }
  } else if (opts.fileRequired) {
    throw new Error(`secrets file ${opts.file} not found`);
  }
  return { values, sources, file, warnings: checkValues(values) };
}

// Refuses values the Worker would reject at runtime; warns about the two it needs.
function checkValues(values: Record<string, string>): string[] {
  const warnings: string[] = [];
  const jwt = values.ADMIN_JWT_SECRET;
  if (jwt !== undefined && jwt.length < 32) throw new Error("ADMIN_JWT_SECRET must be at least 32 characters");
  const vault = values.VAULT_KEYS;
  if (vault !== undefined) {
    let ok = false;
    try {
      const parsed = JSON.parse(vault) as { current?: unknown; keys?: Record<string, unknown> };
      ok = typeof parsed.current === "string" && !!parsed.keys && typeof parsed.keys[parsed.current] === "string";
    } catch {
      ok = false;
    }
    if (!ok) throw new Error('VAULT_KEYS must be JSON {"current":"<id>","keys":{"<id>":"<base64 of 32 bytes>"}} with the current key present');
  }
  for (const name of FIXED_SECRETS) {
    if (values[name] === undefined) warnings.push(`${name} is not given: fine if the Worker already has it, otherwise ${name === "VAULT_KEYS" ? "the vault" : "the admin API"} answers 503`);
  }
  return warnings;
}
