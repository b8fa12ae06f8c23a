// The console's sign-in exchange, its session cookie on /admin (role and tenant scope exactly the
// token's, CSRF checks on unsafe methods), sign-out and revocation, and the console's static files
// with their Content-Security-Policy: all through the real Worker (SELF) with real D1.
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { admin, BASE, expectStatus, makeTenant, ownerToken, token, type TestTenant } from "../../gateway/helpers.ts";

const ORIGIN = BASE; // http://gateway.test: not loopback, so the cookie is the Secure __Host- one
const LOCAL = "http://127.0.0.1:8787";

interface Reply {
  status: number;
  headers: Headers;
  body: any;
}

async function send(method: string, path: string, opts: { cookie?: string; body?: unknown; headers?: Record<string, string>; base?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.cookie !== undefined) headers.cookie = opts.cookie;
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await SELF.fetch(`${opts.base ?? BASE}${path}`, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), redirect: "manual" });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // HTML, JS or empty
  }
  return { status: res.status, headers: res.headers, body };
}

const consoleHeaders = (origin = ORIGIN) => ({ "x-edgeclaw-console": "1", origin });

async function signIn(adminToken: string, base = BASE): Promise<{ reply: Reply; cookie: string }> {
  const reply = await send("POST", "/console/session", { body: { token: adminToken }, headers: consoleHeaders(base), base });
  expect(reply.status, JSON.stringify(reply.body)).toBe(201);
  const setCookie = reply.headers.get("set-cookie") ?? "";
  return { reply, cookie: setCookie.split(";")[0]! };
}

let a: TestTenant;
let b: TestTenant;
let owner: string;

beforeAll(async () => {
  [a, b] = await Promise.all([makeTenant(), makeTenant()]);
  owner = await ownerToken();
});

describe("console sign-in", () => {
  it("turns an admin token into an httpOnly, SameSite=Strict, Secure __Host- cookie and never echoes the token", async () => {
    const { reply, cookie } = await signIn(owner);
    expect(reply.body).toEqual({ sub: "test-owner", role: "owner", tenant: null, region: null, expires_at: expect.any(String) });
    expect(JSON.stringify(reply.body)).not.toContain(owner);
    const setCookie = reply.headers.get("set-cookie")!;
    expect(cookie.startsWith("__Host-edgeclaw-console=")).toBe(true);
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).toContain("Secure");
    expect(setCookie).toContain("Path=/");
    expect(setCookie).not.toMatch(/Domain=/i);
    // The admin token lived 600 s: the session cannot outlive it.
    const maxAge = Number(/Max-Age=(\d+)/.exec(setCookie)![1]);
    expect(maxAge).toBeGreaterThan(500);
    expect(maxAge).toBeLessThanOrEqual(600);
    expect(reply.headers.get("cache-control")).toBe("no-store");

    const me = await send("GET", "/console/session", { cookie });
    expect(me.status).toBe(200);
    expect(me.body.role).toBe("owner");
  });

  it("caps a session at two hours even for a long-lived token", async () => {
    const { reply } = await signIn(await token({ sub: "long", role: "owner" }, 30 * 24 * 3600));
    expect(Number(/Max-Age=(\d+)/.exec(reply.headers.get("set-cookie")!)![1])).toBe(7200);
  });

  it("refuses sign-in without the console header or from another origin (login CSRF), and bad or revoked tokens", async () => {
    const attempts: Record<string, string>[] = [{}, { origin: ORIGIN }, { "x-edgeclaw-console": "1" }, consoleHeaders("https://evil.example")];
    for (const headers of attempts) {
      const res = await send("POST", "/console/session", { body: { token: owner }, headers });
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("csrf_refused");
      expect(res.headers.get("set-cookie")).toBeNull();
    }
    const bad = await send("POST", "/console/session", { body: { token: "not-a-jwt" }, headers: consoleHeaders() });
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe("invalid_token");
    const extra = await send("POST", "/console/session", { body: { token: owner, remember: true }, headers: consoleHeaders() });
    expect(extra.status).toBe(400);

    const doomed = await token({ sub: "doomed", role: "owner" });
    expectStatus(await admin(owner, "POST", "/tokens/revoke", { token: doomed }), 200);
    const revoked = await send("POST", "/console/session", { body: { token: doomed }, headers: consoleHeaders() });
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.code).toBe("token_revoked");
  });

  it("answers 401 signed_out without a cookie", async () => {
    const res = await send("GET", "/console/session");
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("signed_out");
  });
});

describe("the session cookie on /admin", () => {
  it("reads with the owner's scope and writes only with the console header from this origin", async () => {
    const { cookie } = await signIn(owner);
    const list = await send("GET", "/admin/tenants", { cookie });
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: { id: string }) => t.id)).toEqual(expect.arrayContaining([a.tenantId, b.tenantId]));

    const body = { tenant_id: a.tenantId, name: "from the console" };
    const attempts: Record<string, string>[] = [{}, { "x-edgeclaw-console": "1" }, { origin: ORIGIN }, consoleHeaders("https://evil.example"), consoleHeaders("null")];
    for (const headers of attempts) {
      const refused = await send("POST", "/admin/api-keys", { cookie, body, headers });
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe("csrf_refused");
    }
    const created = await send("POST", "/admin/api-keys", { cookie, body, headers: consoleHeaders() });
    expect(created.status).toBe(201);
    expect(created.body.tenant_id).toBe(a.tenantId);

    // The audit row names the token's subject, as a Bearer call would.
    const audit = await send("GET", `/admin/audit?tenant_id=${a.tenantId}&action=api_key.create`, { cookie });
    expect(audit.body.data[0].actor).toBe("owner:test-owner");
  });

  it("keeps a tenant viewer's scope: own tenant only, and every write refused", async () => {
    const { cookie, reply } = await signIn(await token({ sub: "vera", role: "viewer", tenant: a.tenantId }));
    expect(reply.body).toMatchObject({ role: "viewer", tenant: a.tenantId });
    const keys = await send("GET", "/admin/api-keys", { cookie });
    expect(keys.status).toBe(200);
    expect(new Set(keys.body.data.map((k: { tenant_id: string }) => k.tenant_id))).toEqual(new Set([a.tenantId]));
    const other = await send("GET", `/admin/api-keys?tenant_id=${b.tenantId}`, { cookie });
    expect(other.status).toBe(403);
    const write = await send("POST", "/admin/api-keys", { cookie, body: { name: "nope" }, headers: consoleHeaders() });
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe("read_only");
    const tenants = await send("POST", "/admin/tenants", { cookie, body: { name: "nope" }, headers: consoleHeaders() });
    expect(tenants.status).toBe(403);
  });

  it("keeps a tenant admin inside its tenant", async () => {
    const { cookie } = await signIn(await token({ sub: "alice", role: "admin", tenant: a.tenantId }));
    const own = await send("POST", "/admin/api-keys", { cookie, body: { name: "mine" }, headers: consoleHeaders() });
    expect(own.status).toBe(201);
    expect(own.body.tenant_id).toBe(a.tenantId);
    const foreign = await send("POST", "/admin/api-keys", { cookie, body: { tenant_id: b.tenantId, name: "theirs" }, headers: consoleHeaders() });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe("tenant_scope");
  });

  it("is not a Bearer token, and a Bearer token is not a session", async () => {
    const { cookie } = await signIn(owner);
    const jwt = cookie.slice(cookie.indexOf("=") + 1);
    const asBearer = await admin(jwt, "GET", "/tenants");
    expect(asBearer.status).toBe(401);
    const asCookie = await send("GET", "/admin/tenants", { cookie: `__Host-edgeclaw-console=${owner}` });
    expect(asCookie.status).toBe(401);
    expect(asCookie.body.error.code).toBe("session_expired");
    const forged = await send("GET", "/admin/tenants", { cookie: `__Host-edgeclaw-console=${jwt.slice(0, -4)}AAAA` });
    expect(forged.status).toBe(401);
  });

  it("uses the unprefixed, non-Secure cookie only on http loopback, and each name only where it belongs", async () => {
    const { reply, cookie } = await signIn(owner, LOCAL);
    const setCookie = reply.headers.get("set-cookie")!;
    expect(cookie.startsWith("edgeclaw-console=")).toBe(true);
    expect(setCookie).not.toContain("Secure");
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect((await send("GET", "/admin/tenants", { cookie, base: LOCAL })).status).toBe(200);
    // The local name means nothing on a non-loopback origin (no cookie: 401 missing_token) ...
    const elsewhere = await send("GET", "/admin/tenants", { cookie });
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.error.code).toBe("missing_token");
    // ... nor the __Host- name on loopback http.
    const secure = (await signIn(owner)).cookie;
    expect((await send("GET", "/admin/tenants", { cookie: secure, base: LOCAL })).status).toBe(401);
  });
});

describe("sign-out and revocation", () => {
  it("sign-out revokes the session and clears the cookie; the admin token still works", async () => {
    const viewer = await token({ sub: "sam", role: "viewer", tenant: b.tenantId });
    const { cookie } = await signIn(viewer);
    const refused = await send("POST", "/console/session/end", { cookie });
    expect(refused.status).toBe(403);
    const out = await send("POST", "/console/session/end", { cookie, headers: consoleHeaders() });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toMatch(/^__Host-edgeclaw-console=; Path=\/; Max-Age=0; HttpOnly; SameSite=Strict; Secure$/);
    const after = await send("GET", "/admin/api-keys", { cookie });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("session_revoked");
    expect((await admin(viewer, "GET", "/api-keys")).status).toBe(200);

    const audit = await send("GET", `/admin/audit?tenant_id=${b.tenantId}&action=console.`, { cookie: (await signIn(owner)).cookie });
    expect(audit.body.data.map((r: { action: string }) => r.action)).toEqual(["console.sign_out", "console.sign_in"]);
    // A second sign-out with the dead cookie still clears it.
    expect((await send("POST", "/console/session/end", { cookie, headers: consoleHeaders() })).status).toBe(204);
  });

  it("revoking the admin token ends every session made from it", async () => {
    const parent = await token({ sub: "temp", role: "admin", tenant: a.tenantId });
    const { cookie } = await signIn(parent);
    expect((await send("GET", "/admin/api-keys", { cookie })).status).toBe(200);
    expectStatus(await admin(owner, "POST", "/tokens/revoke", { token: parent }), 200);
    const after = await send("GET", "/admin/api-keys", { cookie });
    expect(after.status).toBe(401);
    expect(after.body.error.code).toBe("session_revoked");
  });
});

describe("the console's files", () => {
  it("serves the page with a strict CSP and no inline script, and redirects /console to /console/", async () => {
    const redirect = await send("GET", "/console");
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get("location")).toBe("/console/");

    const page = await send("GET", "/console/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = page.body as string;
    const scripts = [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toMatch(/\ssrc="\/console\/assets\/[\w.-]+\.js"/);
    expect(html).not.toMatch(/<script\b[^>]*>[^<]/); // no inline script body
    expect(html).not.toMatch(/\sstyle=|<style/);

    const src = /src="(\/console\/assets\/[\w.-]+\.js)"/.exec(html)![1]!;
    const js = await SELF.fetch(`${BASE}${src}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toContain("javascript");
    expect(js.headers.get("content-security-policy")).toBe(csp);
    await js.arrayBuffer();

    // HEAD is answered by the same route, headers included.
    const head = await SELF.fetch(`${BASE}/console/`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-security-policy")).toBe(csp);
  });

  it("does not let a static file answer for an API path", async () => {
    const res = await send("GET", "/v1/models");
    expect(res.status).toBe(401);
  });
});
