// Bearer JWT auth for /admin. Without a configured secret the admin API is closed (503), never
// open.
import type { MiddlewareHandler } from "hono";
import { MIN_SECRET_LENGTH, verifyAdminToken } from "../auth/admin-token.ts";
import type { AppEnv } from "../env.ts";
import { bearerToken } from "./api-key-auth.ts";
import { ApiError } from "./errors.ts";

export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const secret = c.env.ADMIN_JWT_SECRET;
    if (!secret || secret.length < MIN_SECRET_LENGTH) {
      throw new ApiError(
        503,
        "admin_disabled",
        `The admin API is disabled: set the ADMIN_JWT_SECRET secret (at least ${MIN_SECRET_LENGTH} characters).`,
      );
    }
    const token = bearerToken(c.req.header("authorization"));
    if (!token) throw new ApiError(401, "missing_token", "Send an admin JWT as 'Authorization: Bearer <token>'.");
    const claims = await verifyAdminToken(secret, token);
    if (!claims) throw new ApiError(401, "invalid_token", "The admin token is invalid or expired.");
    c.set("admin", claims);
    await next();
  };
}
