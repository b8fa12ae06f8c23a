// Console sessions (docs/console.md, "Sign-in"). An operator pastes an admin token once; the Worker
// checks it exactly as /admin does and answers with a short-lived session: a JWT of its own
// audience (edgeclaw-console, so a session is never accepted as a Bearer token and a Bearer token
// never as a session) carrying the token's role, tenant and region unchanged, in an httpOnly,
// SameSite=Strict cookie. JavaScript in the page never sees the admin token after sign-in, nor
// the session.
//
// The session dies at the first of: its own exp (CONSOLE_SESSION_TTL_S), the admin token's exp,
// sign-out (its jti revoked), revocation of the admin token (its jti, `ptj`, is checked on every
// request). Both revocations use the admin tokens' revocation list (workers/auth/revoked-tokens.ts).
import type { Context } from "hono";
import { z } from "zod";
import { tokenId, type AdminTokenClaims } from "../../schema/admin.ts";
import { signJwt, verifyJwt } from "../auth/admin-token.ts";
import { isTokenRevoked } from "../auth/revoked-tokens.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";

export const CONSOLE_AUDIENCE = "edgeclaw-console";
// Short-lived by design: a stolen cookie (it cannot be read by script, but a shared machine...)
// is worth two hours at most, and signing in again is one paste.
export const CONSOLE_SESSION_TTL_S = 2 * 3600;
// The header every state-changing console request carries (with a same-origin Origin): a
// cross-site form cannot set it, and a cross-site fetch that sets it needs a CORS preflight this
// Worker never grants.
export const CONSOLE_HEADER = "x-edgeclaw-console";
// __Host-: the browser only keeps it when Secure, Path=/ and without Domain (no subdomain can set
// or shadow it). On plain http://127.0.0.1 (npm start) a Secure cookie is not an option, so the
// local name has no prefix; it is accepted only over loopback http.
export const SECURE_COOKIE = "__Host-edgeclaw-console";
export const LOCAL_COOKIE = "edgeclaw-console";

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

export type SessionClaims = AdminTokenClaims & { ptj: string };

const sessionExtra = z.object({ ptj: tokenId });

/** Plain http is only acceptable for a browser talking to this machine (local development). */
export function isLocalHttp(url: URL): boolean {
  return url.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname);
}

export function cookieName(url: URL): string {
  return isLocalHttp(url) ? LOCAL_COOKIE : SECURE_COOKIE;
}

export async function mintSession(secret: string, parent: AdminTokenClaims, nowS = Math.floor(Date.now() / 1000)): Promise<{ jwt: string; claims: SessionClaims }> {
  const exp = Math.min(nowS + CONSOLE_SESSION_TTL_S, parent.exp);
  const { sub, role, tenant, region } = parent;
  const scope = { sub, role, ...(tenant !== undefined ? { tenant } : {}), ...(region !== undefined ? { region } : {}) };
  const { jwt, jti } = await signJwt(secret, scope, CONSOLE_AUDIENCE, nowS, exp, { ptj: parent.jti });
  return { jwt, claims: { ...scope, jti, iat: nowS, exp, ptj: parent.jti } };
}

export async function verifySession(secret: string, jwt: string, nowS = Math.floor(Date.now() / 1000)): Promise<SessionClaims | null> {
  const verified = await verifyJwt(secret, jwt, CONSOLE_AUDIENCE, { maxTtlS: CONSOLE_SESSION_TTL_S, nowS });
  const extra = sessionExtra.safeParse({ ptj: verified?.payload.ptj });
  return verified && extra.success ? { ...verified.claims, ...extra.data } : null;
}

/** The session cookie's value, read only under the name this origin may use. */
export function sessionCookie(c: Context<AppEnv>): string | undefined {
  const name = cookieName(new URL(c.req.url));
  const header = c.req.header("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * CSRF defence for cookie-authenticated requests, on top of SameSite=Strict: every unsafe method
 * must carry the console header and an Origin equal to this Worker's own.
 */
export function assertSameOrigin(c: Context<AppEnv>): void {
  if (SAFE_METHODS.has(c.req.method)) return;
  const origin = c.req.header("origin");
  if (c.req.header(CONSOLE_HEADER) !== "1" || origin === undefined || origin !== new URL(c.req.url).origin) {
    throw new ApiError(403, "csrf_refused", `A console request that changes anything must come from this origin with the header '${CONSOLE_HEADER}: 1'.`);
  }
}

/**
 * The claims of the request's console session, or undefined without a cookie. A cookie that does
 * not verify, or whose session or admin token was revoked, answers 401 (the console signs in again).
 */
export async function consoleSession(c: Context<AppEnv>, secret: string): Promise<SessionClaims | undefined> {
  const jwt = sessionCookie(c);
  if (jwt === undefined) return undefined;
  const claims = await verifySession(secret, jwt);
  if (!claims) throw new ApiError(401, "session_expired", "The console session is invalid or expired: sign in again.");
  const [own, parent] = await Promise.all([isTokenRevoked(c.env, claims.jti), isTokenRevoked(c.env, claims.ptj)]);
  if (own || parent) throw new ApiError(401, "session_revoked", "The console session (or the admin token behind it) has been revoked: sign in again.");
  return claims;
}

export function setCookieHeader(url: URL, value: string, maxAgeS: number): string {
  const secure = !isLocalHttp(url);
  return [`${cookieName(url)}=${value}`, "Path=/", `Max-Age=${maxAgeS}`, "HttpOnly", "SameSite=Strict", ...(secure ? ["Secure"] : [])].join("; ");
}
