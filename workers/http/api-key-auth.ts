// API key auth for /v1: `Authorization: Bearer <key>` (OpenAI's clients) or `x-api-key: <key>`
// (Anthropic's convention, which Claude-native clients send). The tenant comes from the key and
// from nowhere else. Both headers with different keys is refused rather than guessed at, so a
// proxy that adds one cannot silently switch the tenant a request runs as.
import type { MiddlewareHandler } from "hono";
import type { ApiKeyScope } from "../../schema/admin.ts";
import { principalForKey } from "../auth/principal.ts";
import { settings, type AppEnv } from "../env.ts";
import { ApiError } from "./errors.ts";
import { withSpan } from "../observability/trace.ts";

export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i);
  return match?.[1];
}

export function apiKeyAuth(scope: ApiKeyScope): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const bearer = bearerToken(c.req.header("authorization"));
    const apiKey = c.req.header("x-api-key")?.trim() || undefined;
    if (bearer && apiKey && bearer !== apiKey) {
      throw new ApiError(401, "conflicting_api_keys", "Two different API keys were sent (Authorization and x-api-key): send one.");
    }
    const key = bearer ?? apiKey;
    if (!key) {
      throw new ApiError(
        401,
        "missing_api_key",
        "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.",
      );
    }
    const principal =
      key.length > 512
        ? null
        : await withSpan("gateway.auth", "internal", {}, async (span) => {
            const found = await principalForKey(c.env.DB, key, settings(c.env).cacheTtlMs);
            span?.set("edgeclaw.auth.key_found", found !== null).set("edgeclaw.tenant_id", found?.tenantId);
            return found;
          });
    if (!principal) throw new ApiError(401, "invalid_api_key", "Incorrect API key provided.");
    if (principal.expiresAt !== null && principal.expiresAt <= Date.now()) {
      throw new ApiError(401, "expired_api_key", "This API key has expired.");
    }
    if (principal.tenantRevoked) {
      throw new ApiError(403, "tenant_revoked", "This API key's tenant has been revoked.");
    }
    if (!principal.scopes.includes(scope)) {
      throw new ApiError(403, "insufficient_scope", `This API key lacks the '${scope}' scope.`);
    }
    c.set("principal", principal);
    await next();
  };
}
