// Admin tokens: HS256 JWTs signed with the ADMIN_JWT_SECRET Worker secret. jose checks the
// signature (an HMAC compare in constant time), the algorithm, issuer, audience and expiry;
// zod then checks the claims EdgeClaw relies on (role, tenant scope).
import { jwtVerify, SignJWT } from "jose";
import { adminClaims, JWT_AUDIENCE, JWT_ISSUER, type AdminClaims } from "../../schema/admin.ts";

// HS256 keys shorter than the hash output make brute force easier; refuse them outright.
export const MIN_SECRET_LENGTH = 32;

export async function verifyAdminToken(secret: string, token: string): Promise<AdminClaims | null> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience: JWT_AUDIENCE,
      requiredClaims: ["exp", "sub"],
    });
    const claims = adminClaims.safeParse({ sub: payload.sub, role: payload.role, tenant: payload.tenant });
    return claims.success ? claims.data : null;
  } catch {
    return null;
  }
}

export async function signAdminToken(
  secret: string,
  claims: AdminClaims,
  ttlSeconds: number,
): Promise<string> {
  const valid = adminClaims.parse(claims);
  const extra: Record<string, string> = { role: valid.role };
  if (valid.tenant !== undefined) extra.tenant = valid.tenant;
  return new SignJWT(extra)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(valid.sub)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
