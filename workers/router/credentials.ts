// A provider row never holds its credential: credential_ref names a PROVIDER_* Worker secret
// (owner-attached) or a vault:<name> secret of the provider's own tenant. resolveSecret enforces
// the prefix at the point of use as well as the admin schema, so no row, however it was written,
// can make the gateway send another secret (such as ADMIN_JWT_SECRET) upstream.
// Vault values are cached in the isolate (workers/vault/store.ts), so the hot path reads D1 only
// for a credential this isolate has not used recently.
import { ApiError } from "../http/errors.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";

// tenantId: the tenant whose provider row this is (the router only compiles a tenant's own
// providers), so a vault: reference opens that tenant's secret and no other.
export async function providerCredential(env: Env, tenantId: string, ref: string | null): Promise<string | undefined> {
  if (ref === null) return undefined;
  const secret = await resolveSecret(env, tenantId, ref, "PROVIDER_");
  if (secret.ok) return secret.value;
  if (secret.code === "vault_unavailable") throw new ApiError(503, "vault_unavailable", "The provider's credential is in the vault, which is not configured on the gateway.");
  throw new ApiError(502, "upstream_credential_missing", "The provider's credential is not configured on the gateway.");
}
