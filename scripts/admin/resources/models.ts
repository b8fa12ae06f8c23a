// Providers, models and the router config (workers/admin/providers.ts, models.ts, router-config.ts).
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { canonicalJson, keyValues, lineDiff } from "../format.ts";
import { readJsonFile } from "../io.ts";
import { listFlags, tenantFlag, UsageError, type Flag, type Resource, type RunContext } from "../spec.ts";

export const providers: Resource = {
  name: "providers",
  summary: "upstream providers (OpenAI-compatible, Anthropic, Workers AI) and their replicas",
  verbs: [
    { name: "list", summary: "list providers", method: "GET", path: "/providers", flags: listFlags, output: { columns: ["id", "tenant_id", "name", "kind", "base_url", "credential_ref", "revoked_at"] } },
    {
      name: "create",
      summary: "create a provider",
      method: "POST",
      path: "/providers",
      file: true,
      flags: [
        tenantFlag,
        { name: "name", required: true, help: "provider name (a slug; router configs name it)" },
        { name: "kind", required: true, help: "openai-compatible, anthropic or workers-ai" },
        { name: "base-url", help: "the API base, ending in /v1 (not for workers-ai)", meta: "URL" },
        { name: "credential-ref", help: "vault:<secret name>, or (owner) a PROVIDER_* Worker secret", meta: "REF" },
        { name: "timeout-ms", type: "number", help: "upstream timeout (100-600000)", meta: "MS" },
        { name: "replicas", type: "json", help: "JSON array of {id, base_url, metrics_url?}", meta: "JSON" },
      ],
      examples: ["providers create --tenant demo --name openai --kind openai-compatible --base-url https://api.openai.com/v1 --credential-ref vault:openai"],
    },
    {
      name: "update",
      summary: "declare (or with --replicas null remove) the provider's replicas",
      method: "PATCH",
      path: "/providers/:id",
      args: [{ name: "id", help: "the provider id (prv_...)" }],
      file: true,
      flags: [{ name: "replicas", type: "json", help: "JSON array of {id, base_url, metrics_url?}, or null", meta: "JSON" }],
    },
    { name: "revoke", summary: "revoke a provider (its models stop being served)", method: "POST", path: "/providers/:id/revoke", args: [{ name: "id", help: "the provider id" }] },
  ],
};

const modelFields: Flag[] = [
  { name: "upstream", field: "upstream_model", help: "the provider's model id", meta: "MODEL" },
  { name: "kind", help: "chat or embedding" },
  { name: "context-window", type: "number", help: "tokens", meta: "N" },
  { name: "input-price", field: "input_price_per_mtok", type: "number", help: "USD per million input tokens", meta: "USD" },
  { name: "output-price", field: "output_price_per_mtok", type: "number", help: "USD per million output tokens", meta: "USD" },
  { name: "enabled", type: "boolean", value: true, help: "served (default on create)" },
  { name: "disabled", field: "enabled", type: "boolean", value: false, help: "not served" },
];

export const models: Resource = {
  name: "models",
  summary: "the models a tenant's clients can call (public name -> provider + upstream model)",
  verbs: [
    { name: "list", summary: "list models", method: "GET", path: "/models", flags: listFlags, output: { columns: ["id", "tenant_id", "public_name", "provider_id", "upstream_model", "kind", "enabled"] } },
    {
      name: "create",
      summary: "create a model",
      method: "POST",
      path: "/models",
      file: true,
      flags: [
        tenantFlag,
        { name: "name", field: "public_name", required: true, help: "the public name clients send as `model`" },
        { name: "provider", field: "provider_id", required: true, help: "a live provider id of the tenant", meta: "ID" },
        ...modelFields.map((f) => (f.name === "upstream" ? { ...f, required: true } : f)),
      ],
      examples: ["models create --tenant demo --name gpt-4o --provider prv_123 --upstream gpt-4o --input-price 2.5 --output-price 10"],
    },
    { name: "update", summary: "change a model (any subset of the fields)", method: "PATCH", path: "/models/:id", args: [{ name: "id", help: "the model id (mdl_...)" }], file: true, flags: modelFields },
    { name: "revoke", summary: "disable a model", method: "POST", path: "/models/:id/revoke", args: [{ name: "id", help: "the model id" }] },
  ],
};

function tenantQuery(ctx: RunContext) {
  return { tenant_id: ctx.values.tenant as string | undefined };
}

// The config of the live version, or of --version N.
async function fetchConfig(ctx: RunContext, version: string | undefined) {
  const path = version === undefined ? "/router-config" : `/router-config/versions/${encodeURIComponent(version)}`;
  return ctx.api("GET", path, { query: tenantQuery(ctx) });
}

function versionOf(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--version must be a positive whole number, got '${text}'`, "npm run admin -- routes versions   (lists them)");
  return String(n);
}

const versionFlag: Flag = { name: "version", help: "a saved version (default: the live one)", meta: "N" };

export const routes: Resource = {
  name: "routes",
  aliases: ["router-config"],
  summary: "the router config (routes, strategies, retries): get, edit from a file, diff, versions, rollback",
  verbs: [
    {
      name: "get",
      summary: "the live config (or --version N) with its version; --config prints only the document",
      flags: [tenantFlag, versionFlag, { name: "config", type: "boolean", help: "print only the config document (what edit --file takes)" }, { name: "out", help: "write the config document to this file instead", meta: "FILE" }],
      examples: ["routes get --tenant demo --config > routes.json", "routes edit --tenant demo --file routes.json --comment 'more weight on gpu'"],
      run: async (ctx) => {
        const res = await fetchConfig(ctx, versionOf(ctx.values.version as string | undefined));
        const body = res.json as { config?: unknown } & Record<string, unknown>;
        if (typeof ctx.values.out === "string") {
          const path = resolve(ctx.io.cwd, ctx.values.out);
          writeFileSync(path, `${JSON.stringify(body.config, null, 2)}\n`);
          ctx.io.err(`version ${String(body.version)} written to ${path}`);
        } else if (ctx.values.config && !ctx.json) ctx.io.out(JSON.stringify(body.config, null, 2));
        else if (ctx.json) ctx.print(res);
        else {
          const { config, ...meta } = body;
          ctx.io.out(`${keyValues(meta)}\nconfig:\n${JSON.stringify(config, null, 2)}`);
        }
      },
    },
    {
      name: "edit",
      summary: "save a config document from a file as the next version (validated by the gateway)",
      method: "PUT",
      path: "/router-config",
      fileField: "config",
      flags: [tenantFlag, { name: "comment", help: "why (kept with the version)", meta: "TEXT" }],
      notes: ["The file is the config document itself ({\"routes\": {...}}), as `routes get --config` prints it.", "Check it first with `routes diff --file FILE`."],
      examples: ["routes edit --tenant demo --file routes.json --comment 'fallback to anthropic'"],
    },
    {
      name: "diff",
      summary: "line diff of a config file (or --version N) against the live config",
      flags: [tenantFlag, { name: "file", help: "the config document to compare (or - for stdin)", meta: "FILE" }, versionFlag],
      notes: ["Keys are sorted on both sides, so only content differences show. Exit 0 either way."],
      run: async (ctx) => {
        const file = ctx.values.file as string | undefined;
        const version = versionOf(ctx.values.version as string | undefined);
        if ((file === undefined) === (version === undefined)) throw new UsageError("give exactly one of --file or --version", "npm run admin -- routes diff --help");
        const live = (await fetchConfig(ctx, undefined)).json as { version: number; config: unknown };
        const [label, other] = file !== undefined ? [file, await readJsonFile(ctx.io, file)] : [`version ${version}`, ((await fetchConfig(ctx, version)).json as { config: unknown }).config];
        const diff = lineDiff(canonicalJson(live.config), canonicalJson(other), [`live (version ${live.version})`, label]);
        if (ctx.json) ctx.io.out(JSON.stringify({ live_version: live.version, identical: diff === "", diff }));
        else ctx.io.out(diff === "" ? `no differences from the live config (version ${live.version})` : diff);
      },
    },
    {
      name: "versions",
      summary: "saved versions, newest first",
      method: "GET",
      path: "/router-config/versions",
      flags: listFlags,
      output: { columns: ["version", "created_at", "actor", "rolled_back_from", "comment"] },
    },
    {
      name: "rollback",
      summary: "save an earlier version again as the next one",
      method: "POST",
      path: "/router-config/rollback",
      args: [{ name: "version", type: "number", help: "the version to bring back" }],
      flags: [tenantFlag, { name: "comment", help: "why", meta: "TEXT" }],
    },
    {
      name: "breakers",
      summary: "breaker state of every target of a route",
      method: "GET",
      path: "/router-config/breakers",
      flags: [tenantFlag, { name: "model", required: true, help: "the route's public model name" }],
      output: { columns: ["path", "replica", "phase", "open_until", "times_opened", "callers_open"] },
    },
    {
      name: "spend",
      summary: "the tenant's (or one key's) spend today and this month",
      method: "GET",
      path: "/router-config/spend",
      flags: [tenantFlag, { name: "key", field: "key_id", help: "one API key's spend", meta: "ID" }],
    },
  ],
};
