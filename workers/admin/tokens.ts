// POST /admin/tokens/revoke: stop an admin token before its exp.
//   {jti, exp}   owner only. A bare id says nothing about whose token it is (tokens are minted
//                offline and never stored), so only the deployment-wide role may name one.
//   {token}      the token itself: its signed claims say whose it is. An owner may revoke any;
//                a tenant admin a token scoped to its own tenant (admin or viewer); anyone
//                (viewers included) the very token they are calling with (log out).
// The revocation and its audit row are one D1 batch; the token id is kept until its exp.
// This isolate forgets its cached answer at once, other isolates within CACHE_TTL_MS.
import { Hono } from "hono";
import { revokeTokenBody, type AdminTokenClaims } from "../../schema/admin.ts";
import { verifyAdminToken } from "../auth/admin-token.ts";
import { forgetRevocation, revokeStatement } from "../auth/revoked-tokens.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { adminSecret, adminTokenMaxTtlS } from "../http/admin-auth.ts";
import { ApiError } from "../http/errors.ts";
import { requireOwner } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { iso } from "./ids.ts";
import { adminBody } from "./request.ts";

export const tokenRoutes = new Hono<AppEnv>();

function mayRevoke(caller: AdminTokenClaims, target: AdminTokenClaims): boolean {
  if (caller.role === "owner" || caller.jti === target.jti) return true;
  return caller.role === "admin" && target.tenant !== undefined && target.tenant === caller.tenant;
}

tokenRoutes.post("/revoke", async (c) => {
  const caller = c.get("admin");
  const body = await adminBody(c, revokeTokenBody);
  const nowS = Math.floor(Date.now() / 1000);
  const maxTtlS = adminTokenMaxTtlS(c.env);
  let jti: string;
  let exp: number;
  let tenantId: string | null = null;
  let metadata: Record<string, unknown>;
  if ("jti" in body) {
    requireOwner(caller);
    ({ jti, exp } = body);
    metadata = { by: "jti" };
  } else {
    const target = await verifyAdminToken(adminSecret(c.env), body.token, { maxTtlS });
    if (!target) throw new ApiError(400, "invalid_value", "token: not a valid, unexpired admin token of this deployment.");
    if (!mayRevoke(caller, target)) {
      if (caller.role === "viewer") throw new ApiError(403, "read_only", "A viewer token may only revoke itself.");
      throw new ApiError(403, "forbidden", "A tenant admin may only revoke tokens scoped to its own tenant.");
    }
    ({ jti, exp } = target);
    tenantId = target.tenant ?? null;
    // Who held it, never the token itself.
    metadata = { by: "token", role: target.role, sub: target.sub };
  }
  // No accepted token outlives now + the maximum lifetime (+ clock skew), so neither need its
  // row: an exp further out is clamped rather than stored for ever.
  const expiresAtMs = Math.min(exp, nowS + maxTtlS + 3600) * 1000;
  const db = database(c.env.DB);
  await db.batch([
    revokeStatement(db, jti, expiresAtMs),
    auditInsert(db, caller, { tenantId, action: "admin_token.revoke", target: jti, metadata: { ...metadata, exp: iso(exp * 1000) } }),
  ]);
  forgetRevocation(jti);
  return c.json({ jti, revoked: true, expires_at: iso(expiresAtMs) });
});
