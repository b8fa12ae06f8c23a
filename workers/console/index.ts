// The operator console under /console (docs/console.md): the static front end built from console/
// (Workers Static Assets, binding ASSETS), served with a strict Content-Security-Policy, and the
// sign-in exchange that turns a pasted admin token into a console session cookie
// (./session.ts). Everything else the console shows comes from the /admin API, which accepts the
// session cookie with exactly the token's role and tenant scope (workers/http/admin-auth.ts).
import { Hono, type Context } from "hono";
import { z } from "zod";
import { forgetRevocation, revokeStatement } from "../auth/revoked-tokens.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { adminSecret, checkAdminToken } from "../http/admin-auth.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { auditInsert, auditInsertAs } from "../admin/audit.ts";
import { assertSameOrigin, consoleSession, mintSession, setCookieHeader, type SessionClaims } from "./session.ts";

// No inline script or style anywhere (Vite emits external files only), nothing from another
// origin, no framing, no plugins; the page talks only to this origin (connect-src).
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONSOLE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
};

const signInBody = z.strictObject({ token: z.string().min(1).max(8192) });

export const consoleRoutes = new Hono<AppEnv>();

function sessionView(claims: SessionClaims) {
  return {
    sub: claims.sub,
    role: claims.role,
    tenant: claims.tenant ?? null,
    region: claims.region ?? null,
    expires_at: new Date(claims.exp * 1000).toISOString(),
  };
}

function noStore(c: Context<AppEnv>): void {
  c.header("cache-control", "no-store");
}

// Sign-in: the pasted admin token, checked as /admin checks it (signature, lifetime, revocation,
// region), becomes a session. The same-origin check also stops login CSRF (a foreign site
// signing the operator's browser in under another identity).
consoleRoutes.post("/session", async (c) => {
  assertSameOrigin(c);
  noStore(c);
  const secret = adminSecret(c.env);
  const { token } = parseOr400(signInBody, await readJsonBody(c, 16 * 1024));
  const parent = await checkAdminToken(c.env, secret, token);
  const { jwt, claims } = await mintSession(secret, parent);
  const db = database(c.env.DB);
  await db.batch([auditInsert(db, claims, { tenantId: claims.tenant ?? null, action: "console.sign_in", target: claims.jti, metadata: { token_jti: parent.jti, expires_at: new Date(claims.exp * 1000).toISOString() } })]);
  c.header("set-cookie", setCookieHeader(new URL(c.req.url), jwt, claims.exp - claims.iat));
  return c.json(sessionView(claims), 201);
});

// Who is signed in (the console reads its role and tenant here: the cookie is httpOnly).
consoleRoutes.get("/session", async (c) => {
  noStore(c);
  const claims = await consoleSession(c, adminSecret(c.env));
  if (!claims) throw new ApiError(401, "signed_out", "No console session: sign in with an admin token.");
  return c.json(sessionView(claims));
});

// Sign-out: the session's id joins the revocation list (until its exp) and the cookie is cleared.
// Answers 204 even when the session was already invalid: the browser's cookie goes either way.
consoleRoutes.post("/session/end", async (c) => {
  assertSameOrigin(c);
  noStore(c);
  const url = new URL(c.req.url);
  c.header("set-cookie", setCookieHeader(url, "", 0));
  let claims: SessionClaims | undefined;
  try {
    claims = await consoleSession(c, adminSecret(c.env));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  if (claims) {
    const db = database(c.env.DB);
    await db.batch([
      revokeStatement(db, claims.jti, claims.exp * 1000),
      auditInsertAs(db, `${claims.role}:${claims.sub}`, { tenantId: claims.tenant ?? null, action: "console.sign_out", target: claims.jti }),
    ]);
    forgetRevocation(claims.jti);
  }
  return c.body(null, 204);
});

consoleRoutes.get("/", async (c) => serveAsset(c));
consoleRoutes.get("/*", async (c) => serveAsset(c));

// The console's files from Workers Static Assets, with the security headers added. The page and
// its files hold no secret: who is signed in comes from GET /console/session.
async function serveAsset(c: Context<AppEnv>): Promise<Response> {
  const assets = (c.env as unknown as { ASSETS?: Fetcher }).ASSETS;
  if (!assets) throw new ApiError(503, "console_unavailable", "This Worker has no console assets (binding ASSETS): run `npm run build:console`.");
  const url = new URL(c.req.url);
  // /console (no slash) would make the page's relative URLs resolve against /.
  if (url.pathname === "/console") return c.redirect("/console/", 308);
  const res = await assets.fetch(new Request(url, { method: c.req.method, headers: c.req.raw.headers }));
  const out = new Response(res.body, res);
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) out.headers.set(k, v);
  // The page itself is revalidated each time (a new build's file names reach the browser at
  // once); the hashed files under assets/ may be cached.
  if (!url.pathname.startsWith("/console/assets/")) out.headers.set("cache-control", "no-cache");
  return out;
}
