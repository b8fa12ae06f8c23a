// Rows (provider credential_ref, channel account token_ref, scheduler webhook secret_ref) only name
// a Worker secret. The name's prefix is checked here, at the point of use, as well as by the admin
// schema: a row written some other way must not be able to make the gateway send another secret
// (such as ADMIN_JWT_SECRET) to a URL the row controls.
import type { Env } from "../env.ts";

export type SecretPrefix = "PROVIDER_" | "TELEGRAM_" | "WEBHOOK_";

const NAME = /^[A-Z0-9_]{1,64}$/;

// The secret's value, or undefined when the name lacks the prefix or the secret is unset/empty.
export function secretByRef(env: Env, ref: string | null | undefined, prefix: SecretPrefix): string | undefined {
  if (!ref || !ref.startsWith(prefix) || !NAME.test(ref.slice(prefix.length))) return undefined;
  const value = (env as unknown as Record<string, unknown>)[ref];
  return typeof value === "string" && value.length > 0 ? value : undefined;
}
