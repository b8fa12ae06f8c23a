// Tenants, API keys and vault secrets (workers/admin/tenants.ts, api-keys.ts, secrets.ts).
import { readHidden } from "../io.ts";
import { limitFlag, listFlags, tenantFlag, UsageError, type Resource } from "../spec.ts";

export const tenants: Resource = {
  name: "tenants",
  summary: "create, list, show and revoke tenants (create and revoke: owner only)",
  verbs: [
    { name: "list", summary: "list tenants (a tenant token sees its own)", method: "GET", path: "/tenants", flags: [limitFlag], output: { columns: ["id", "name", "region", "created_at", "revoked_at"] } },
    { name: "show", summary: "one tenant", method: "GET", path: "/tenants/:id", args: [{ name: "id", help: "the tenant id" }] },
    {
      name: "create",
      summary: "create a tenant",
      method: "POST",
      path: "/tenants",
      file: true,
      flags: [
        { name: "name", required: true, help: "display name" },
        { name: "id", help: "the tenant id (a slug; generated when missing)" },
        { name: "region", help: "home region; must be the region serving the call" },
      ],
      examples: ["tenants create --id acme --name 'Acme Inc'"],
    },
    { name: "revoke", summary: "revoke a tenant: its keys, channels, hooks and jobs stop", method: "POST", path: "/tenants/:id/revoke", args: [{ name: "id", help: "the tenant id" }] },
  ],
};

export const keys: Resource = {
  name: "keys",
  aliases: ["api-keys"],
  summary: "API keys of the /v1 API (the key is shown once, on create)",
  verbs: [
    { name: "list", summary: "list keys (prefix only, never the key)", method: "GET", path: "/api-keys", flags: listFlags, output: { columns: ["id", "tenant_id", "name", "prefix", "scopes", "expires_at", "revoked_at"] } },
    {
      name: "create",
      summary: "create a key; the answer holds the key, once",
      method: "POST",
      path: "/api-keys",
      file: true,
      flags: [
        tenantFlag,
        { name: "name", required: true, help: "what the key is for" },
        { name: "scopes", type: "list", help: "comma-separated: models:read, chat:write (default both)", meta: "LIST" },
        { name: "expires-at", help: "ISO 8601 time with a zone, in the future", meta: "TIME" },
      ],
      examples: ["keys create --tenant demo --name ci --scopes chat:write", "-s keys create --tenant demo --name ci --json | jq -r .key"],
    },
    { name: "revoke", summary: "revoke a key (at once in this isolate, within seconds elsewhere)", method: "POST", path: "/api-keys/:id/revoke", args: [{ name: "id", help: "the key id (key_...)" }] },
  ],
};

async function secretValue(io: Parameters<NonNullable<Resource["verbs"][number]["run"]>>[0]["io"]): Promise<string> {
  if (io.isStdinTty) return readHidden("secret value (not shown): ");
  const text = await io.readStdin();
  // `echo value |` adds one newline; it is not part of the secret.
  return text.endsWith("\r\n") ? text.slice(0, -2) : text.endsWith("\n") ? text.slice(0, -1) : text;
}

export const secrets: Resource = {
  name: "secrets",
  aliases: ["vault"],
  summary: "a tenant's vault secrets: values are write-only (read from stdin, never an argument)",
  verbs: [
    { name: "list", summary: "secret names, key ids and times (never values)", method: "GET", path: "/secrets", flags: listFlags, output: { columns: ["tenant_id", "name", "ref", "key_id", "updated_at", "rotated_at"] } },
    { name: "show", summary: "one secret's metadata", method: "GET", path: "/secrets/:name", args: [{ name: "name", help: "the secret name" }], flags: [tenantFlag] },
    {
      name: "set",
      summary: "create or replace a secret; the value is read from stdin (or typed, hidden, on a terminal)",
      method: "PUT",
      path: "/secrets/:name",
      args: [{ name: "name", help: "the secret name (referenced as vault:<name>)" }],
      flags: [tenantFlag],
      notes: ["The value is never an argument or an option: it would stay in the shell history and in", "the process list. One trailing newline (from echo) is dropped."],
      examples: ["secrets set openai --tenant demo < openai-key.txt", "printf %s \"$KEY\" | npm run -s admin -- secrets set openai --tenant demo"],
      run: async (ctx) => {
        const value = await secretValue(ctx.io);
        if (value === "") throw new UsageError("the secret value is empty: pipe it on stdin", `printf %s "$VALUE" | npm run -s admin -- secrets set ${ctx.args.name} --tenant ID`);
        const tenant = ctx.values.tenant as string | undefined;
        const res = await ctx.api("PUT", `/secrets/${encodeURIComponent(ctx.args.name as string)}`, { body: { ...(tenant ? { tenant_id: tenant } : {}), value } });
        ctx.print(res);
      },
    },
    { name: "delete", summary: "delete a secret", method: "DELETE", path: "/secrets/:name", args: [{ name: "name", help: "the secret name" }], flags: [tenantFlag] },
    {
      name: "rotate",
      summary: "owner: re-seal one batch under the current vault key (repeat until remaining is 0)",
      method: "POST",
      path: "/secrets/rotate",
      flags: [{ name: "batch-size", type: "number", help: "rows per call (default 100)", meta: "N" }],
    },
  ],
};
