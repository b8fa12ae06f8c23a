// Descriptions of the admin API's configuration routes: tenants, API keys, providers, models,
// the router config, vault secrets, token revocation, usage and audit. Body and query schemas are
// the objects the handlers validate with (see registry.ts).
import { z } from "zod";
import { auditRetentionBody, createApiKeyBody, createModelBody, createProviderBody, createTenantBody, listQuery, revokeTokenBody, updateModelBody } from "../../schema/admin.ts";
import { updateProviderBody } from "../../schema/provider-replicas.ts";
import { putRouterConfigBody, rollbackBody } from "../../schema/route-config.ts";
import { createSecretBody, putSecretBody, rotateSecretsBody, secretName, secretQuery } from "../../schema/vault.ts";
import { auditQuery } from "../admin/audit.ts";
import { tenantOnly } from "../admin/retention.ts";
import { tenantQuery } from "../admin/router-config.ts";
import { usageQuery } from "../admin/usage.ts";
import { usageRetentionBody } from "../usage/retention.ts";
import { ANY_ROLE, OWNER, WRITERS, type RouteDoc } from "./registry.ts";

const id = (what: string) => ({ id: { description: `The ${what}'s id.` } });
const list = (what: string) => ({ 200: { description: `{data: [${what}]}, newest first, within the token's tenant scope.` } });
const admin = { auth: "admin" } as const;

// A route "chat": the big model, falling back to the small one on rate limits, 5xx and timeouts.
const routerConfigExample = {
  routes: {
    chat: {
      tree: {
        type: "fallback",
        on: ["rate_limited", "server_error", "timeout"],
        children: [
          { type: "target", id: "big", provider: "openai", model: "gpt-4.1" },
          { type: "target", id: "small", provider: "openai", model: "gpt-4.1-mini" },
        ],
      },
      retry: { attempts: 2 },
    },
  },
  limits: { tenant: { requests_per_min: 6000 } },
};

export const adminConfigRoutes: RouteDoc[] = [
  // Tenants
  { ...admin, method: "post", path: "/admin/tenants", operationId: "createTenant", tag: "Tenants", roles: OWNER, summary: "Create a tenant", body: createTenantBody, bodyExample: { id: "acme", name: "Acme Inc." }, ok: { 201: { description: "The tenant." } } },
  { ...admin, method: "get", path: "/admin/tenants", operationId: "listTenants", tag: "Tenants", roles: ANY_ROLE, summary: "List tenants", query: listQuery, queryExample: { limit: 10 }, ok: list("tenant") },
  { ...admin, method: "get", path: "/admin/tenants/:id", operationId: "getTenant", tag: "Tenants", roles: ANY_ROLE, summary: "Get a tenant", params: id("tenant"), ok: { 200: { description: "The tenant." } } },
  { ...admin, method: "post", path: "/admin/tenants/:id/revoke", operationId: "revokeTenant", tag: "Tenants", roles: OWNER, summary: "Revoke a tenant", description: "Keeps its rows and audit trail; every one of its keys is turned away from then on.", params: id("tenant"), ok: { 200: { description: "The tenant, with revoked_at set." } } },

  // API keys
  { ...admin, method: "post", path: "/admin/api-keys", operationId: "createApiKey", tag: "API keys", roles: WRITERS, summary: "Create an API key", description: "The answer holds the key itself (sk-ec-...), shown this once.", body: createApiKeyBody, bodyExample: { tenant_id: "acme", name: "ci", scopes: ["chat:write", "models:read"] }, ok: { 201: { description: "The key's metadata and the key itself." } } },
  { ...admin, method: "get", path: "/admin/api-keys", operationId: "listApiKeys", tag: "API keys", roles: ANY_ROLE, summary: "List API keys (never the keys themselves)", query: listQuery, queryExample: { tenant_id: "acme", limit: 50 }, ok: list("api key") },
  { ...admin, method: "post", path: "/admin/api-keys/:id/revoke", operationId: "revokeApiKey", tag: "API keys", roles: WRITERS, summary: "Revoke an API key", params: id("API key"), ok: { 200: { description: "The key's metadata, with revoked_at set." } } },

  // Providers and models
  { ...admin, method: "post", path: "/admin/providers", operationId: "createProvider", tag: "Providers and models", roles: WRITERS, summary: "Create a provider", description: "credential_ref names a vault:<secret> of the tenant, or (owner only) a Worker secret PROVIDER_*; never a key itself.", body: createProviderBody, bodyExample: { tenant_id: "acme", name: "openai", kind: "openai-compatible", base_url: "https://api.openai.com/v1", credential_ref: "vault:openai-key" }, ok: { 201: { description: "The provider." } } },
  { ...admin, method: "get", path: "/admin/providers", operationId: "listProviders", tag: "Providers and models", roles: ANY_ROLE, summary: "List providers", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("provider") },
  { ...admin, method: "patch", path: "/admin/providers/:id", operationId: "updateProvider", tag: "Providers and models", roles: WRITERS, summary: "Set or clear a provider's self-hosted replicas", description: "A tenant admin may do this for a provider whose credential is a vault: secret; one with a PROVIDER_* Worker secret is the owner's alone (the replicas receive the credential).", params: id("provider"), body: updateProviderBody, bodyExample: { replicas: [{ id: "gpu-a", base_url: "https://gpu-a.example.com/v1" }] }, ok: { 200: { description: "The provider." } } },
  { ...admin, method: "post", path: "/admin/providers/:id/revoke", operationId: "revokeProvider", tag: "Providers and models", roles: WRITERS, summary: "Revoke a provider", params: id("provider"), ok: { 200: { description: "The provider, with revoked_at set." } } },
  { ...admin, method: "post", path: "/admin/models", operationId: "createModel", tag: "Providers and models", roles: WRITERS, summary: "Publish a model under a public name", body: createModelBody, bodyExample: { tenant_id: "acme", public_name: "gpt-4o-mini", provider_id: "prv_0123456789abcdef01234567", upstream_model: "gpt-4o-mini", input_price_per_mtok: 0.15, output_price_per_mtok: 0.6 }, ok: { 201: { description: "The model." } } },
  { ...admin, method: "get", path: "/admin/models", operationId: "listTenantModels", tag: "Providers and models", roles: ANY_ROLE, summary: "List models", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("model") },
  { ...admin, method: "patch", path: "/admin/models/:id", operationId: "updateModel", tag: "Providers and models", roles: WRITERS, summary: "Update a model", params: id("model"), body: updateModelBody, bodyExample: { enabled: false }, ok: { 200: { description: "The model." } } },
  { ...admin, method: "post", path: "/admin/models/:id/revoke", operationId: "revokeModel", tag: "Providers and models", roles: WRITERS, summary: "Revoke a model", params: id("model"), ok: { 200: { description: "The model, with revoked_at set." } } },

  // Router config
  { ...admin, method: "put", path: "/admin/router-config", operationId: "putRouterConfig", tag: "Router config", roles: WRITERS, summary: "Save a new router config version", description: "Routes (trees of targets, conditions and weights), retries, breakers, cache, rate limits and budgets; each save is a new version that can be rolled back.", body: putRouterConfigBody, bodyExample: { tenant_id: "acme", config: routerConfigExample, comment: "fall back to the small model" }, ok: { 200: { description: "The saved version." }, 201: { description: "The saved version." } } },
  { ...admin, method: "post", path: "/admin/router-config/rollback", operationId: "rollbackRouterConfig", tag: "Router config", roles: WRITERS, summary: "Make an earlier version current again (as a new version)", body: rollbackBody, bodyExample: { tenant_id: "acme", version: 1 }, ok: { 200: { description: "The new version." }, 201: { description: "The new version." } } },
  { ...admin, method: "get", path: "/admin/router-config", operationId: "getRouterConfig", tag: "Router config", roles: ANY_ROLE, summary: "The current router config", query: tenantQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{tenant_id, version, config, created_at}; version 0 when none was saved." } } },
  { ...admin, method: "get", path: "/admin/router-config/versions", operationId: "listRouterConfigVersions", tag: "Router config", roles: ANY_ROLE, summary: "List router config versions", query: tenantQuery, queryExample: { tenant_id: "acme", limit: 20 }, ok: { 200: { description: "{data: [version]} without the configs." } } },
  { ...admin, method: "get", path: "/admin/router-config/versions/:version{[0-9]+}", operationId: "getRouterConfigVersion", tag: "Router config", roles: ANY_ROLE, summary: "One router config version", params: { version: { description: "The version number.", schema: z.string().regex(/^[0-9]+$/) } }, query: tenantQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "The version with its config." } } },
  { ...admin, method: "get", path: "/admin/router-config/breakers", operationId: "getBreakers", tag: "Router config", roles: ANY_ROLE, summary: "Circuit breaker states per target", query: tenantQuery, queryExample: { tenant_id: "acme", model: "gpt-4o-mini" }, ok: { 200: { description: "{data: [breaker]}: closed, open or half-open per target." } } },
  { ...admin, method: "get", path: "/admin/router-config/spend", operationId: "getSpend", tag: "Router config", roles: ANY_ROLE, summary: "Today's and this month's spend against the budgets", query: tenantQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{tenant_id, key_id, day, day_usd, month, month_usd}." } } },

  // Vault secrets: values go in, never come out.
  { ...admin, method: "post", path: "/admin/secrets/rotate", operationId: "rotateSecrets", tag: "Secrets", roles: OWNER, summary: "Re-seal a batch of secrets under the current vault key", body: rotateSecretsBody, bodyExample: { batch_size: 100 }, ok: { 200: { description: "How many were re-sealed and how many remain." } } },
  { ...admin, method: "post", path: "/admin/secrets", operationId: "createSecret", tag: "Secrets", roles: WRITERS, summary: "Store a secret in the vault", description: "The answer names the secret (ref vault:<name>); the value is never returned by any route.", body: createSecretBody, bodyExample: { tenant_id: "acme", name: "openai-key", value: "sk-example" }, ok: { 200: { description: "Replaced: the secret's metadata." }, 201: { description: "Created: the secret's metadata." } } },
  { ...admin, method: "put", path: "/admin/secrets/:name", operationId: "putSecret", tag: "Secrets", roles: WRITERS, summary: "Create or replace a secret by name", params: { name: { description: "The secret's name.", schema: secretName } }, body: putSecretBody, bodyExample: { tenant_id: "acme", value: "sk-example" }, ok: { 200: { description: "Replaced: the secret's metadata." }, 201: { description: "Created: the secret's metadata." } } },
  { ...admin, method: "get", path: "/admin/secrets", operationId: "listSecrets", tag: "Secrets", roles: ANY_ROLE, summary: "List secret names (never values)", query: listQuery, queryExample: { tenant_id: "acme" }, ok: list("secret metadata") },
  { ...admin, method: "get", path: "/admin/secrets/:name", operationId: "getSecret", tag: "Secrets", roles: ANY_ROLE, summary: "A secret's metadata (never its value)", params: { name: { description: "The secret's name.", schema: secretName } }, query: secretQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "The secret's metadata." } } },
  { ...admin, method: "delete", path: "/admin/secrets/:name", operationId: "deleteSecret", tag: "Secrets", roles: WRITERS, summary: "Delete a secret", params: { name: { description: "The secret's name.", schema: secretName } }, query: secretQuery, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{name, deleted: true}." } } },

  // Admin tokens
  { ...admin, method: "post", path: "/admin/tokens/revoke", operationId: "revokeToken", tag: "Admin tokens", roles: ANY_ROLE, summary: "Revoke an admin token", description: "By id and expiry (owner only), or by presenting the token itself (any role may revoke a token it holds).", body: revokeTokenBody, bodyExample: { jti: "tok_0123456789abcdef", exp: 1_900_000_000 }, ok: { 200: { description: "{jti, revoked: true}." } } },

  // Usage and audit
  { ...admin, method: "get", path: "/admin/usage", operationId: "getUsage", tag: "Usage and audit", roles: ANY_ROLE, summary: "Usage report from the metering rollups", description: "Requests, errors, tokens, spend and latency per time bucket, grouped and filtered as asked; paged with cursor.", query: usageQuery, queryExample: { granularity: "hour", group_by: "model", limit: 100 }, ok: { 200: { description: "{granularity, from, to, data: [bucket], next_cursor}; with format=csv, the same rows as text/csv." } } },
  { ...admin, method: "get", path: "/admin/usage/retention", operationId: "getUsageRetention", tag: "Usage and audit", roles: ANY_ROLE, summary: "How long a tenant's usage events are kept", query: tenantOnly, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{tenant_id, days, source}." } } },
  { ...admin, method: "put", path: "/admin/usage/retention", operationId: "putUsageRetention", tag: "Usage and audit", roles: WRITERS, summary: "Set how long a tenant's usage events are kept", body: usageRetentionBody, bodyExample: { tenant_id: "acme", days: 30 }, ok: { 200: { description: "{tenant_id, days, source}." } } },
  { ...admin, method: "get", path: "/admin/audit", operationId: "listAudit", tag: "Usage and audit", roles: ANY_ROLE, summary: "Audit log, newest first", description: "Admin and data-plane events, filtered by action (or prefix ending in '.' or '.*'), actor, subject, kind and time; paged with before_id.", query: auditQuery, queryExample: { tenant_id: "acme", action: "tenant.", limit: 50 }, ok: { 200: { description: "{data: [event], next_before_id}." } } },
  { ...admin, method: "get", path: "/admin/audit/retention", operationId: "getAuditRetention", tag: "Usage and audit", roles: ANY_ROLE, summary: "A tenant's audit retention", query: tenantOnly, queryExample: { tenant_id: "acme" }, ok: { 200: { description: "{tenant_id, days}." } } },
  { ...admin, method: "put", path: "/admin/audit/retention", operationId: "putAuditRetention", tag: "Usage and audit", roles: WRITERS, summary: "Set a tenant's audit retention (7 days at least, or null: keep)", body: auditRetentionBody, bodyExample: { tenant_id: "acme", days: 90 }, ok: { 200: { description: "{tenant_id, days}." } } },
  { ...admin, method: "post", path: "/admin/audit/purge", operationId: "purgeAudit", tag: "Usage and audit", roles: WRITERS, summary: "Delete audit rows older than the tenant's retention now", body: tenantOnly, bodyExample: { tenant_id: "acme" }, ok: { 200: { description: "{tenant_id, deleted}." } } },
];
