// zod schemas for the admin API: token claims, request bodies, and the shared vocabularies
// (roles, API key scopes, provider kinds) the Worker and the scripts both use.
import { z } from "zod";
import { providerReplicas } from "./provider-replicas.ts";

export const roles = ["owner", "admin", "viewer"] as const;

// What an API key may call. New keys get all of them unless the body narrows it.
export const apiKeyScopes = ["models:read", "chat:write"] as const;
export type ApiKeyScope = (typeof apiKeyScopes)[number];

// Every kind needs an adapter in workers/router/providers/index.ts (its registry is typed by
// this list, so adding a kind here without one fails the type check).
export const providerKinds = ["openai-compatible", "anthropic", "workers-ai"] as const;
export type ProviderKind = (typeof providerKinds)[number];

// A deployment region's name (docs/deploy.md): short, lowercase, never all hex (so it cannot be
// mistaken for the random part of an id). workers/regions/settings.ts holds the same rule.
export const regionName = z.string().regex(/^[a-z][a-z0-9]{1,7}$/, "a region name such as eu (a-z then 1-7 of a-z, 0-9)");

export const JWT_ISSUER = "edgeclaw";
export const JWT_AUDIENCE = "edgeclaw-admin";

// Claims of an admin token after jose has checked signature, issuer, audience and expiry.
// `tenant` scopes admin and viewer tokens to one tenant; an owner token has none. `region` (a
// regional deployment) names the region whose Worker serves the token: the global entry forwards
// on it, and a regional Worker refuses a token of another region that reached it already forwarded.
export const adminClaims = z
  .object({
    sub: z.string().min(1).max(200),
    role: z.enum(roles),
    tenant: z.string().min(1).max(64).optional(),
    region: regionName.optional(),
  })
  .refine((c) => c.role !== "admin" || c.tenant !== undefined, {
    message: "an admin token must carry a tenant",
    path: ["tenant"],
  })
  .refine((c) => c.role !== "owner" || c.tenant === undefined, {
    message: "an owner token is deployment-wide and carries no tenant",
    path: ["tenant"],
  });
export type AdminClaims = z.infer<typeof adminClaims>;

// Longest lifetime (exp - iat) an admin token may have unless ADMIN_TOKEN_MAX_TTL_S says
// otherwise: a leaked token must die on its own even if nobody revokes it.
export const DEFAULT_ADMIN_TOKEN_MAX_TTL_S = 30 * 24 * 3600;

// A token id names one token so it can be revoked (POST /admin/tokens/revoke); random, so
// it says nothing about the holder.
export const tokenId = z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, "8-128 of A-Z, a-z, 0-9, _ and -");

// The registered claims every admin token must carry besides sub/iss/aud (all checked by
// workers/auth/admin-token.ts): its id, when it was issued and when it expires (epoch seconds).
export const adminTokenTimes = z.object({
  jti: tokenId,
  iat: z.number().int().nonnegative(),
  exp: z.number().int().positive(),
});
export type AdminTokenClaims = AdminClaims & z.infer<typeof adminTokenTimes>;

// POST /admin/tokens/revoke: by id (owner only: nothing says whose token an id is) or by
// presenting the token itself (its signed claims say whose it is; see workers/admin/tokens.ts).
export const revokeTokenBody = z.union([
  z.strictObject({ jti: tokenId, exp: z.number().int().positive().max(2 ** 40) }),
  z.strictObject({ token: z.string().min(1).max(8192) }),
]);

// Audit retention per tenant, in days (null: keep forever). The floor keeps a tenant admin from
// shrinking the window to erase recent history: the rows of the last week always stay.
export const MIN_AUDIT_RETENTION_DAYS = 7;
export const auditRetentionBody = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  days: z.number().int().min(MIN_AUDIT_RETENTION_DAYS).max(36_500).nullable(),
});

const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "1-63 of a-z, 0-9 and -, starting with a letter or digit");

// Optional in bodies: an admin token's own tenant is used when it is missing.
const tenantRef = z.string().min(1).max(64).optional();

export const createTenantBody = z.strictObject({
  id: slug.optional(),
  name: z.string().trim().min(1).max(200),
  // The tenant's home region, fixed for good. Optional: it defaults to the region whose Worker
  // serves the call; naming another one is refused (workers/admin/tenants.ts).
  region: regionName.optional(),
});

export const createApiKeyBody = z.strictObject({
  tenant_id: tenantRef,
  name: z.string().trim().min(1).max(200),
  scopes: z.array(z.enum(apiKeyScopes)).min(1).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
});

// A credential is a vault:<name> secret of the provider's own tenant, or (owner only) a Worker
// secret named PROVIDER_*: the prefix keeps a provider row from pointing at any other secret
// (ADMIN_JWT_SECRET) and sending it to a base URL of the admin's choosing.
export const credentialRef = z
  .string()
  .regex(/^(?:PROVIDER_[A-Z0-9_]{1,64}|vault:[A-Za-z0-9_.-]{1,64})$/, "vault:<secret name>, or the name of a Worker secret starting with PROVIDER_");

export const createProviderBody = z
  .strictObject({
    tenant_id: tenantRef,
    name: slug,
    kind: z.enum(providerKinds),
    // The API base (OpenAI-compatible: ending in /v1; Anthropic: https://api.anthropic.com/v1).
    // Workers AI is reached through the AI binding and has none.
    base_url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .transform((u) => u.replace(/(^|[^/])\/+$/, "$1"))
      .optional(),
    credential_ref: credentialRef.optional(),
    timeout_ms: z.number().int().min(100).max(600_000).optional(),
    // Self-hosted replicas the credential may also be sent to (schema/provider-replicas.ts).
    replicas: providerReplicas.optional(),
  })
  .refine((b) => b.kind === "workers-ai" || b.base_url !== undefined, { message: "required for this kind", path: ["base_url"] });

const price = z.number().min(0).max(1_000_000);

export const modelKinds = ["chat", "embedding"] as const;
export type ModelKind = (typeof modelKinds)[number];

export const createModelBody = z.strictObject({
  tenant_id: tenantRef,
  public_name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/),
  provider_id: z.string().min(1).max(64),
  upstream_model: z.string().min(1).max(256),
  // "chat" (default): /v1/chat/completions and /v1/completions; "embedding": /v1/embeddings.
  kind: z.enum(modelKinds).optional(),
  context_window: z.number().int().positive().optional(),
  input_price_per_mtok: price.optional(),
  output_price_per_mtok: price.optional(),
  enabled: z.boolean().optional(),
});

export const updateModelBody = z
  .strictObject({
    upstream_model: z.string().min(1).max(256).optional(),
    kind: z.enum(modelKinds).optional(),
    context_window: z.number().int().positive().nullable().optional(),
    input_price_per_mtok: price.optional(),
    output_price_per_mtok: price.optional(),
    enabled: z.boolean().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: "nothing to update" });

export const listQuery = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});
