// Provider credentials live in Worker secrets; a provider row only names one (credential_ref).
// The PROVIDER_ prefix is enforced here as well as in the admin schema, so no row, however it was
// written, can make the gateway send another secret (such as ADMIN_JWT_SECRET) upstream.
import { ApiError } from "../http/errors.ts";
import type { Env } from "../env.ts";

const REF = /^PROVIDER_[A-Z0-9_]{1,64}$/;

export function providerCredential(env: Env, ref: string | null): string | undefined {
  if (ref === null) return undefined;
  const value = REF.test(ref) ? (env as unknown as Record<string, unknown>)[ref] : undefined;
  if (typeof value !== "string" || value.length === 0) {
    throw new ApiError(502, "upstream_credential_missing", "The provider's credential is not configured on the gateway.");
  }
  return value;
}
