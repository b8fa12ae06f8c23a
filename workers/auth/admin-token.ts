// Admin tokens: HS256 JWTs signed with the ADMIN_JWT_SECRET Worker secret. jose checks the
// signature (an HMAC compare in constant time), the algorithm, issuer, audience and expiry;
// zod then checks the claims EdgeClaw relies on (role, tenant scope, id, issue and expiry
// times), and the lifetime rule below. Revocation (a D1 list of token ids) is checked by the
// middleware (workers/http/admin-auth.ts), not here, so scripts can mint and verify offline.
import { jwtVerify, SignJWT, type JWTPayload } from "jose";
import {
  adminClaims,
  adminTokenTimes,
  DEFAULT_ADMIN_TOKEN_MAX_TTL_S,
  JWT_AUDIENCE,
  JWT_ISSUER,
  type AdminClaims,
  type AdminTokenClaims,
} from "../../schema/admin.ts";
import { base64url } from "./encoding.ts";

// HS256 keys shorter than the hash output make brute force easier; refuse them outright.
export const MIN_SECRET_LENGTH = 32;

// Clocks of the minting machine and the Worker differ a little; a token "issued" further in the
// future than this is refused, or exp - iat would not bound how long it lives from now.
const CLOCK_SKEW_S = 60;

export interface VerifyOptions {
  maxTtlS?: number;
  nowS?: number;
}

export async function verifyAdminToken(secret: string, token: string, options: VerifyOptions = {}): Promise<AdminTokenClaims | null> {
  return (await verifyJwt(secret, token, JWT_AUDIENCE, options))?.claims ?? null;
}

// The checks every EdgeClaw JWT gets, whatever its audience (admin tokens here, console sessions
// in workers/console/session.ts): signature, algorithm, issuer, audience, expiry, the claims
// EdgeClaw relies on, and a bounded lifetime. The raw payload comes back too, for an audience's
// own extra claims.
export async function verifyJwt(secret: string, token: string, audience: string, options: VerifyOptions = {}): Promise<{ claims: AdminTokenClaims; payload: JWTPayload } | null> {
  const maxTtlS = options.maxTtlS ?? DEFAULT_ADMIN_TOKEN_MAX_TTL_S;
  const nowS = options.nowS ?? Math.floor(Date.now() / 1000);
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ["HS256"],
      issuer: JWT_ISSUER,
      audience,
      requiredClaims: ["exp", "iat", "jti", "sub"],
      currentDate: new Date(nowS * 1000),
    });
    const claims = adminClaims.safeParse({ sub: payload.sub, role: payload.role, tenant: payload.tenant, region: payload.region });
    const times = adminTokenTimes.safeParse({ jti: payload.jti, iat: payload.iat, exp: payload.exp });
    if (!claims.success || !times.success) return null;
    const { iat, exp } = times.data;
    // A token without a bounded lifetime would stay valid for as long as the secret does.
    if (exp - iat > maxTtlS || iat > nowS + CLOCK_SKEW_S) return null;
    return { claims: { ...claims.data, ...times.data }, payload };
  } catch {
    return null;
  }
}

export interface MintedToken {
  token: string;
  jti: string;
  iat: number;
  exp: number;
}

// Every minted token gets a random id (what revocation names) and iat/exp, so the lifetime rule
// above can be checked.
export async function mintAdminToken(secret: string, claims: AdminClaims, ttlSeconds: number, nowS = Math.floor(Date.now() / 1000)): Promise<MintedToken> {
  const minted = await signJwt(secret, adminClaims.parse(claims), JWT_AUDIENCE, nowS, nowS + ttlSeconds);
  return { token: minted.jwt, jti: minted.jti, iat: nowS, exp: nowS + ttlSeconds };
}

// Signs already-valid claims for `audience` with a fresh random id; `extra`: the audience's own
// claims (a console session's parent token id).
export async function signJwt(secret: string, claims: AdminClaims, audience: string, iat: number, exp: number, extra: Record<string, string> = {}): Promise<{ jwt: string; jti: string }> {
  const body: Record<string, string> = { ...extra, role: claims.role };
  if (claims.tenant !== undefined) body.tenant = claims.tenant;
  if (claims.region !== undefined) body.region = claims.region;
  const jti = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const jwt = await new SignJWT(body)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(JWT_ISSUER)
    .setAudience(audience)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));
  return { jwt, jti };
}

export async function signAdminToken(secret: string, claims: AdminClaims, ttlSeconds: number): Promise<string> {
  return (await mintAdminToken(secret, claims, ttlSeconds)).token;
}
