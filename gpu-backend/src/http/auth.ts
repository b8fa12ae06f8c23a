// Bearer-token checks for /v1, /metrics (API_KEYS) and /admin (ADMIN_TOKEN). Keys are compared as
// SHA-256 digests with timingSafeEqual, against every configured key without stopping at the first
// match, so neither the length nor the position of a correct key shows in the response time.
import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { ApiError } from "./errors.ts";

const digest = (s: string) => createHash("sha256").update(s).digest();

/** A constant-time test of an Authorization header against a set of secrets. */
export function bearerMatcher(secrets: readonly string[]): (authorization: string | undefined) => boolean {
  const expected = secrets.map(digest);
  return (authorization) => {
    const given = digest(authorization?.match(/^Bearer (.+)$/)?.[1] ?? "");
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(given, e) || ok;
    return ok;
  };
}

const unauthorized = (what: string) =>
  new ApiError(401, `Missing or invalid ${what}.`, "invalid_api_key", null, "authentication_error", { "WWW-Authenticate": "Bearer" });

/** Requires one of `keys`; with none configured (allowed only on a loopback HOST) the routes stay open. */
export function requireApiKey(keys: readonly string[]): MiddlewareHandler {
  if (keys.length === 0) return async (_c, next) => { await next(); };
  const matches = bearerMatcher(keys);
  return async (c, next) => {
    if (!matches(c.req.header("authorization"))) throw unauthorized("API key");
    await next();
  };
}

export function requireAdmin(token: string | undefined): MiddlewareHandler {
  const matches = token ? bearerMatcher([token]) : undefined;
  return async (c, next) => {
    if (!matches) throw new ApiError(403, "The admin API is disabled: set ADMIN_TOKEN to enable it.", "admin_disabled", null, "permission_error");
    if (!matches(c.req.header("authorization"))) throw unauthorized("admin token");
    await next();
  };
}
