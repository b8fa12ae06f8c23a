// Provider credentials live in Worker secrets; a provider row only names one (credential_ref).
// secretByRef enforces the PROVIDER_ prefix here as well as in the admin schema, so no row, however
// it was written, can make the gateway send another secret (such as ADMIN_JWT_SECRET) upstream.
import { ApiError } from "../http/errors.ts";
import { secretByRef } from "../auth/secrets.ts";
import type { Env } from "../env.ts";

export function providerCredential(env: Env, ref: string | null): string | undefined {
  if (ref === null) return undefined;
  const value = secretByRef(env, ref, "PROVIDER_");
  if (value === undefined) {
    throw new ApiError(502, "upstream_credential_missing", "The provider's credential is not configured on the gateway.");
  }
  return value;
}
