// Bearer JWT auth for /admin. Without a configured secret the admin API is closed (503), never
// open. A token must be signed, unexpired, carry an id and a bounded lifetime
// (workers/auth/admin-token.ts), and must not be revoked (workers/auth/revoked-tokens.ts).
// Without an Authorization header, the operator console's session cookie
// (workers/console/session.ts) stands in for the token it was exchanged for: the same role,
// tenant and region, and on unsafe methods only with the console header from this origin (CSRF).
import type { MiddlewareHandler } from "hono";
import { DEFAULT_ADMIN_TOKEN_MAX_TTL_S, type AdminTokenClaims } from "../../schema/admin.ts";
import { MIN_SECRET_LENGTH, verifyAdminToken } from "../auth/admin-token.ts";
import { isTokenRevoked } from "../auth/revoked-tokens.ts";
import type { AppEnv, Env } from "../env.ts";
import { assertSameOrigin, consoleSession } from "../console/session.ts";
import { regionSettings } from "../regions/settings.ts";
import { bearerToken } from "./api-key-auth.ts";
import { ApiError } from "./errors.ts";

export function adminTokenMaxTtlS(env: Env): number {
  const n = Number(env.ADMIN_TOKEN_MAX_TTL_S);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_ADMIN_TOKEN_MAX_TTL_S;
}

export function adminSecret(env: Env): string {
  const secret = env.ADMIN_JWT_SECRET;
  if (!secret || secret.length < MIN_SECRET_LENGTH) {
    throw new ApiError(
      503,
      "admin_disabled",
      `The admin API is disabled: set the ADMIN_JWT_SECRET secret (at least ${MIN_SECRET_LENGTH} characters).`,
    );
  }
  return secret;
}

export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = adminSecret(c.env);
    const authorization = c.req.header("authorization");
    if (authorization === undefined) {
      const session = await consoleSession(c, secret);
      if (session) {
        assertSameOrigin(c);
        c.set("admin", inRegion(session, regionSettings(c.env).self));
        return next();
      }
    }
    const token = bearerToken(authorization);
    if (!token) throw new ApiError(401, "missing_token", "Send an admin JWT as 'Authorization: Bearer <token>'.");
    c.set("admin", await checkAdminToken(c.env, secret, token));
    await next();
  };
}

// An admin token as /admin takes it (the console's sign-in takes it the same way): signed,
// unexpired, with a bounded lifetime, not revoked, and acting in this Worker's region.
export async function checkAdminToken(env: Env, secret: string, token: string): Promise<AdminTokenClaims> {
  const claims = await verifyAdminToken(secret, token, { maxTtlS: adminTokenMaxTtlS(env) });
  if (!claims) {
    throw new ApiError(401, "invalid_token", "The admin token is invalid or expired, or lacks jti/iat/exp, or lives longer than the deployment allows.");
  }
  if (await isTokenRevoked(env, claims.jti)) throw new ApiError(401, "token_revoked", "The admin token has been revoked.");
  return inRegion(claims, regionSettings(env).self);
}

// A token bound to another region never acts here (the region gate forwards it; one that arrives
// already forwarded, or with a region this Worker does not know, stops here). A token with no
// region acts in this Worker's region, and `region` says so from here on: the tenant checks in
// workers/admin/access.ts refuse a generated tenant id of another region by it.
export function inRegion<T extends AdminTokenClaims>(claims: T, self: string | null): T {
  if (self === null) return claims;
  if (claims.region !== undefined && claims.region !== self) {
    throw new ApiError(409, "misdirected_region", `This admin token belongs to region '${claims.region}'; this is region '${self}'.`);
  }
  return { ...claims, region: self };
}
