// Rows (provider credential_ref, channel account token_ref, scheduler webhook secret_ref) never
// hold a secret; they reference one of two kinds:
//   vault:<name>      a secret of the row's OWN tenant (workers/vault/): the caller passes the
//                     tenant of the row being served, never a tenant named anywhere else, so a
//                     reference can only ever open its own tenant's value
//   PROVIDER_* etc.   a deployment-wide Worker secret, which only an owner may reference (the
//                     admin API enforces that); the prefix is checked here too, at the point of
//                     use, so a row written some other way cannot make the gateway send another
//                     secret (such as ADMIN_JWT_SECRET or VAULT_KEYS) to a URL the row controls
import { VAULT_REF_PREFIX } from "../../schema/vault.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { readSecret } from "../vault/store.ts";
import { auditSecretUse } from "../vault/use-audit.ts";

export type SecretPrefix = "PROVIDER_" | "TELEGRAM_" | "SLACK_" | "DISCORD_" | "LINE_" | "WHATSAPP_" | "FEISHU_" | "WEBHOOK_";

const NAME = /^[A-Z0-9_]{1,64}$/;
const VAULT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

// The Worker secret's value, or undefined when the name lacks the prefix or the secret is unset/empty.
export function secretByRef(env: Env, ref: string | null | undefined, prefix: SecretPrefix): string | undefined {
  if (!ref || !ref.startsWith(prefix) || !NAME.test(ref.slice(prefix.length))) return undefined;
  const value = (env as unknown as Record<string, unknown>)[ref];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

export function isVaultRef(ref: string): boolean {
  return ref.startsWith(VAULT_REF_PREFIX);
}

export type SecretResolution =
  | { ok: true; value: string }
  // `message` names the reference and why it failed, never a value: safe for logs and run history.
  | { ok: false; code: "secret_not_configured" | "vault_unavailable"; message: string };

// The value a row's reference stands for, resolved in `tenantId`, the row's own tenant.
export async function resolveSecret(env: Env, tenantId: string, ref: string | null | undefined, ownerPrefix: SecretPrefix): Promise<SecretResolution> {
  if (ref && isVaultRef(ref)) {
    const name = ref.slice(VAULT_REF_PREFIX.length);
    if (!VAULT_NAME.test(name)) return notConfigured(`${ref} is not a valid vault reference`);
    let read;
    try {
      read = await readSecret(env, tenantId, name);
    } catch (err) {
      if (err instanceof ApiError && err.code === "vault_unavailable") return { ok: false, code: "vault_unavailable", message: err.message };
      throw err;
    }
    if (read.status === "ok") {
      auditSecretUse(env, tenantId, ref, ownerPrefix);
      return { ok: true, value: read.value };
    }
    return notConfigured(read.status === "missing" ? `this tenant has no vault secret '${name}'` : `this tenant's vault secret '${name}' cannot be opened with the configured keys`);
  }
  const value = secretByRef(env, ref, ownerPrefix);
  if (value !== undefined) return { ok: true, value };
  return notConfigured(`${ref ?? "(none)"} is not a set ${ownerPrefix}* Worker secret or a vault: reference`);
}

function notConfigured(message: string): SecretResolution {
  return { ok: false, code: "secret_not_configured", message };
}
