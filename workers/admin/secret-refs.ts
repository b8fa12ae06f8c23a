// Who may reference which secret from a row (provider credential_ref, channel account token_ref,
// webhook job secret_ref). vault:<name> always means the row's own tenant's secret, so any writer
// of that tenant may use it. Deployment-wide Worker secrets (PROVIDER_*, TELEGRAM_*, SLACK_*, WEBHOOK_*)
// are shared by every tenant: a tenant admin who could reference one could have it sent to, or
// sign with it for, a URL of their choosing, so only an owner may.
import type { AdminClaims } from "../../schema/admin.ts";
import { isVaultRef } from "../auth/secrets.ts";
import { ApiError } from "../http/errors.ts";

export function assertMayReference(claims: AdminClaims, ref: string | undefined, field: string): void {
  if (ref === undefined || isVaultRef(ref) || claims.role === "owner") return;
  throw new ApiError(403, "forbidden", `${field}: only an owner may reference a deployment-wide Worker secret; use vault:<name> for a secret of this tenant.`);
}
