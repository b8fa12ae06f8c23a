// Every route of the real Hono app has a description, every description names a route that
// exists, and both documents are OpenAPI 3.1 in shape, served without credentials.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../workers/app.ts";
import { allRoutes } from "../../workers/openapi/index.ts";
import { call } from "../gateway/helpers.ts";

// Routes that are not part of either API and are documented elsewhere. Keep this list short:
// a route missing from both the registry and this list fails the test.
const UNDESCRIBED_PREFIXES = [
  // The operator console (docs/console.md): its static files and its cookie sign-in exchange
  // belong to the console's own front end, not to the admin API it calls.
  "/console",
];

// app.routes lists one entry per handler: middleware added with app.use() appears as method
// ALL on a path ending in "*", and a route with middleware before its handler appears once per
// handler, so entries are deduplicated by method and path.
function appRoutes(): string[] {
  const out = new Set<string>();
  for (const r of app.routes) {
    if (r.method === "ALL" && r.path.endsWith("*")) continue;
    if (UNDESCRIBED_PREFIXES.some((p) => r.path === p || r.path.startsWith(`${p}/`))) continue;
    out.add(`${r.method} ${r.path}`);
  }
  return [...out].sort();
}

describe("route descriptions", () => {
  it("describe every route of the app, and only routes that exist", () => {
    const described = allRoutes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort();
    expect(new Set(described).size).toBe(described.length);
    const routes = appRoutes();
    expect(routes.length).toBeGreaterThan(80);
    expect(routes.filter((r) => !described.includes(r)), "routes without a description").toEqual([]);
    expect(described.filter((r) => !routes.includes(r)), "descriptions of routes that do not exist").toEqual([]);
  });

  it("give every operation a unique operationId", () => {
    const ids = allRoutes.map((r) => r.operationId);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
  });
});

type Json = Record<string, any>;

// Every "$ref" in the document points at something the document has.
function danglingRefs(doc: Json): string[] {
  const out: string[] = [];
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") {
        const parts = v.replace(/^#\//, "").split("/");
        let at: any = doc;
        for (const p of parts) at = at?.[p];
        if (!v.startsWith("#/") || at === undefined) out.push(v);
      } else visit(v);
    }
  };
  visit(doc);
  return out;
}

describe.each([
  ["/openapi.json", "/v1/chat/completions"],
  ["/admin/openapi.json", "/admin/tenants"],
])("%s", (path, samplePath) => {
  it("is served without credentials as an OpenAPI 3.1 document", async () => {
    const res = await call("GET", path);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const doc = res.body as Json;
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toEqual(expect.any(String));
    expect(doc.info.version).toEqual(expect.any(String));
    expect(Object.keys(doc.paths)).toContain(samplePath);
    expect(doc.components.securitySchemes).toEqual(expect.any(Object));
    const ops: Json[] = [];
    for (const [p, item] of Object.entries(doc.paths as Record<string, Json>)) {
      expect(p.startsWith("/")).toBe(true);
      // Parameters are written the OpenAPI way: no Hono ":name" or "{.+}" patterns left.
      expect(p).not.toContain(":");
      for (const [method, op] of Object.entries(item)) {
        expect(["get", "put", "post", "delete", "patch"]).toContain(method);
        ops.push(op);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const answer of Object.values(op.responses as Record<string, Json>)) expect(answer.description).toEqual(expect.any(String));
        // Each path parameter is declared, required, once.
        const inPath = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((x: Json) => x.in === "path").map((x: Json) => x.name);
        expect(declared).toEqual(inPath);
        for (const x of op.parameters ?? []) if (x.in === "path") expect(x.required).toBe(true);
        for (const s of op.security ?? []) for (const name of Object.keys(s)) expect(doc.components.securitySchemes[name]).toBeDefined();
      }
    }
    const ids = ops.map((op) => op.operationId);
    expect(ids.every((id) => typeof id === "string" && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(danglingRefs(doc)).toEqual([]);
  });

  it("is the same document on every request (built once per isolate)", async () => {
    const [a, b] = await Promise.all([call("GET", path), call("GET", path)]);
    expect(JSON.stringify(a.body)).toBe(JSON.stringify(b.body));
  });
});

describe("the admin document", () => {
  it("names each operation's roles and carries no secret or tenant data", async () => {
    const doc = (await call("GET", "/admin/openapi.json")).body as Json;
    const text = JSON.stringify(doc);
    for (const needle of ["test-admin-jwt-secret", "sk-fake-upstream-credential", "fake-bot-token"]) expect(text).not.toContain(needle);
    const revoke = doc.paths["/admin/tenants/{id}/revoke"].post;
    expect(revoke["x-edgeclaw-roles"]).toEqual(["owner"]);
    expect(revoke.security).toEqual([{ adminToken: [] }]);
    expect(doc.paths["/admin/audit"].get.parameters.map((p: Json) => p.name)).toContain("before_id");
  });
});

describe("a global entry Worker", () => {
  it("serves both documents itself (no storage, no region needed)", async () => {
    // The entry's env has no D1 and no Durable Objects (wrangler.jsonc env.global); a region
    // binding that is called fails the test.
    const unreachable = { fetch: async () => new Response("forwarded", { status: 599 }) };
    const bindings = { GATEWAY_ROLE: "entry", REGIONS: "eu,us", REGION_EU: unreachable, REGION_US: unreachable };
    for (const path of ["/openapi.json", "/admin/openapi.json"]) {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`http://gateway.test${path}`), bindings as never, ctx);
      await waitOnExecutionContext(ctx);
      expect(res.status).toBe(200);
      expect(((await res.json()) as Json).openapi).toMatch(/^3\.1\./);
    }
  });
});
