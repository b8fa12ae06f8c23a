// The documents agree with the validators: for every described request body and query, the
// document's schema accepts the described example and the live route does not refuse it as
// invalid; and each change to the example that the document's schema rejects (a field of the
// wrong type or out of its range, an unknown field where the schema is closed) is answered 400
// by the live route, not 2xx or 500. Only the documents served over HTTP are read here, so a
// description that drifts from its route's parseOr400 schema fails.
import { Validator } from "@cfworker/json-schema";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { allRoutes } from "../../workers/openapi/index.ts";
import type { RouteDoc } from "../../workers/openapi/registry.ts";
import { admin, call, expectStatus, makeTenant, ownerToken, token, type TestTenant } from "../gateway/helpers.ts";

type Json = Record<string, any>;

let t: TestTenant;
let owner: string;
let agentId: string;
let modelId: string;
let embeddingModel: string;
let vaultProviderId: string;
const docs: { public: Json; admin: Json } = { public: {}, admin: {} };

beforeAll(async () => {
  t = await makeTenant();
  owner = await ownerToken();
  const agent = expectStatus(await admin(owner, "POST", "/agents", { tenant_id: t.tenantId, name: "doc-agent", system_prompt: "hi", model: "fake-echo" }), 201);
  agentId = agent.body.id;
  const models = expectStatus(await admin(owner, "GET", `/models?tenant_id=${t.tenantId}`), 200);
  modelId = models.body.data[0].id;
  // The router config example routes to a provider named "openai".
  expectStatus(await admin(owner, "POST", "/providers", { tenant_id: t.tenantId, name: "openai", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "PROVIDER_FAKE_KEY" }), 201);
  // A provider whose credential is a vault secret: a tenant admin may change its replicas (one
  // with a PROVIDER_* Worker secret is the owner's alone).
  expectStatus(await admin(owner, "PUT", "/secrets/doc-provider-key", { tenant_id: t.tenantId, value: "sk-doc" }), 201);
  const vaultProvider = expectStatus(await admin(owner, "POST", "/providers", { tenant_id: t.tenantId, name: "doc-vault", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "vault:doc-provider-key" }), 201);
  vaultProviderId = vaultProvider.body.id;
  embeddingModel = "doc-embedding";
  expectStatus(await admin(owner, "POST", "/models", { tenant_id: t.tenantId, public_name: embeddingModel, provider_id: t.providerId, upstream_model: "fake-echo", kind: "embedding" }), 201);
  docs.public = (await call("GET", "/openapi.json")).body;
  docs.admin = (await call("GET", "/admin/openapi.json")).body;
});

// Path parameter values naming objects that exist, for routes that look the object up before
// they validate the body (PATCH /admin/agents/:id); any other parameter gets a value that names
// nothing, which is enough where validation comes first.
function paramValues(route: RouteDoc): Record<string, string> {
  const known: Record<string, Record<string, string>> = {
    updateAgent: { id: agentId },
    updateModel: { id: modelId },
    updateProvider: { id: vaultProviderId },
    putSecret: { name: "doc-secret" },
    getSecret: { name: "doc-secret" },
    deleteSecret: { name: "doc-secret" },
    getRouterConfigVersion: { version: "1" },
    listJobRuns: { id: `job_${"0".repeat(24)}` },
  };
  return known[route.operationId] ?? {};
}

function livePath(route: RouteDoc, doc: Json): string {
  const values = paramValues(route);
  return openApiPathOf(route, doc).replace(/\{([A-Za-z_]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? "doc-none"));
}

function openApiPathOf(route: RouteDoc, doc: Json): string {
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    if (item[route.method]?.operationId === route.operationId) return path;
  }
  throw new Error(`${route.operationId} is not in the document`);
}

function operationOf(route: RouteDoc, doc: Json): Json {
  return doc.paths[openApiPathOf(route, doc)][route.method];
}

// A validator for one schema of the document: its references into components.schemas are
// rewritten to $defs, which a JSON Schema validator resolves within the schema itself.
function validatorFor(schema: Json, doc: Json): Validator {
  const text = JSON.stringify({ ...schema, $defs: doc.components.schemas }).replaceAll('"#/components/schemas/', '"#/$defs/');
  return new Validator(JSON.parse(text), "2020-12", false);
}

// The example with the test tenant's ids in place of the document's sample ids.
function withFixtures(example: Json, route?: RouteDoc): Json {
  const out = structuredClone(example);
  if ("tenant_id" in out) out.tenant_id = t.tenantId;
  if ("provider_id" in out) out.provider_id = t.providerId;
  if ("agent_id" in out) out.agent_id = agentId;
  // The /v1 examples name models the test tenant has: fake-echo answers at the fake upstream.
  if (typeof out.model === "string" && !("tenant_id" in out)) out.model = route?.operationId === "createEmbedding" ? embeddingModel : "fake-echo";
  return out;
}

// Values of the wrong type or beyond any sensible bound; at least one breaks any typed field.
const WRONG = [12345, "\u0000 not valid \u0000", { unexpected: true }, -1, "x".repeat(70_000)];

// Values just past a field's described bounds (minimum - 1, maxLength + 1, ...): the document
// rejects them, so the validator must too; this catches a description whose bounds are looser
// or tighter than the route's schema.
function pastBounds(field: Json | undefined): unknown[] {
  if (!field) return [];
  // A nullable or union field: each branch's bounds (the document check drops what another
  // branch accepts).
  const out: unknown[] = [...(field.anyOf ?? []), ...(field.oneOf ?? [])].flatMap(pastBounds);
  if (field.type === "integer" || field.type === "number") {
    if (typeof field.minimum === "number") out.push(field.minimum - 1);
    if (typeof field.maximum === "number" && field.maximum < Number.MAX_SAFE_INTEGER) out.push(field.maximum + 1);
    if (typeof field.exclusiveMinimum === "number") out.push(field.exclusiveMinimum);
    if (typeof field.exclusiveMaximum === "number") out.push(field.exclusiveMaximum);
  }
  if (field.type === "string") {
    if (typeof field.maxLength === "number" && field.maxLength < 60_000) out.push("x".repeat(field.maxLength + 1));
    if (typeof field.minLength === "number" && field.minLength > 0) out.push("x".repeat(field.minLength - 1));
  }
  return out;
}

// A schema's alternatives: itself, its anyOf/oneOf branches, a $ref's target.
function branchesOf(schema: Json | undefined, doc: Json): Json[] {
  if (!schema) return [];
  if (typeof schema.$ref === "string") return branchesOf(doc.components.schemas[schema.$ref.split("/").pop() as string], doc);
  return [schema, ...[...(schema.anyOf ?? []), ...(schema.oneOf ?? [])].flatMap((b: Json) => branchesOf(b, doc))];
}

function setAt(body: Json, path: string[], value: unknown): Json {
  const out = structuredClone(body);
  let at: any = out;
  for (const p of path.slice(0, -1)) at = at[p];
  at[path[path.length - 1] as string] = value;
  return out;
}

// Bodies the document rejects, each one change away from the valid example: a field (at most
// `depth` levels down) of the wrong type or past its bounds, or an unknown field where the
// object is closed.
function mutantsOf(body: Json, schema: Json, path: string[], doc: Json, rejects: (b: unknown) => boolean, depth: number): [string, unknown][] {
  const out: [string, unknown][] = [];
  const branches = branchesOf(schema, doc);
  let here: any = body;
  for (const p of path) here = here?.[p];
  for (const field of new Set(branches.flatMap((b) => Object.keys(b.properties ?? {})))) {
    const at = [...path, field];
    const name = at.join(".");
    const wrong = WRONG.map((v) => setAt(body, at, v)).find(rejects);
    if (wrong) out.push([name, wrong]);
    for (const b of branches) {
      for (const v of pastBounds(b.properties?.[field])) {
        const m = setAt(body, at, v);
        if (rejects(m)) out.push([`${name} past its bounds (${String(v).slice(0, 12)})`, m]);
      }
    }
    const value = here?.[field];
    if (depth > 1 && value !== null && typeof value === "object" && !Array.isArray(value)) {
      for (const b of branches) if (b.properties?.[field]) out.push(...mutantsOf(body, b.properties[field], at, doc, rejects, depth - 1));
    }
  }
  const objects = branches.filter((b) => b.properties);
  if (objects.length > 0 && objects.every((b) => b.additionalProperties === false) && here !== null && typeof here === "object" && !Array.isArray(here)) {
    const m = setAt(body, [...path, "zz_not_a_field"], 1);
    if (rejects(m)) out.push([`${path.join(".") || "body"}: unknown field`, m]);
  }
  const seen = new Set<string>();
  return out.filter(([, m]) => !seen.has(JSON.stringify(m)) && !!seen.add(JSON.stringify(m)));
}

function docOf(route: RouteDoc): Json {
  return route.path.startsWith("/admin/") ? docs.admin : docs.public;
}

function send(route: RouteDoc, doc: Json, body: unknown, query?: Record<string, string>) {
  const qs = query ? `?${new URLSearchParams(query)}` : "";
  const isAdmin = route.path.startsWith("/admin/");
  return call(route.method.toUpperCase(), `${livePath(route, doc)}${qs}`, { bearer: isAdmin ? owner : t.key, body });
}

const liveRoutes = allRoutes.filter((r) => (r.body || r.query) && (r.auth === "admin" || r.auth === "api_key"));

describe("the documents agree with the validators", () => {
  it("cover the validated routes under test", () => {
    expect(liveRoutes.length).toBeGreaterThan(40);
  });

  it.each(liveRoutes.filter((r) => r.body).map((r) => [r.operationId, r] as const))("%s: request body", async (_, route) => {
    const doc = docOf(route);
    const content = operationOf(route, doc).requestBody.content["application/json"];
    const validator = validatorFor(content.schema, doc);
    expect(content.example, "a described example").toBeDefined();
    const example = withFixtures(content.example, route);
    expect(validator.validate(example).errors).toEqual([]);
    const ok = await send(route, doc, example);
    expect(ok.status, JSON.stringify(ok.body)).not.toBe(400);
    expect(ok.status, JSON.stringify(ok.body)).toBeLessThan(500);
    // Where the document describes the answer, the live answer fits it.
    const answer = operationOf(route, doc).responses[String(ok.status)]?.content?.["application/json"]?.schema;
    if (answer) expect(validatorFor(answer, doc).validate(ok.body).errors).toEqual([]);

    const rejects = (body: unknown) => !validator.validate(body).valid;
    const mutants: [string, unknown][] = [["not an object", ["an array"]], ...mutantsOf(example, content.schema, [], doc, rejects, 2)];
    expect(mutants.length).toBeGreaterThan(1);
    for (const [what, body] of mutants) {
      expect(validator.validate(body).valid, `the document rejects: ${what}`).toBe(false);
      const res = await send(route, doc, body);
      expect(res.status, `${what}: ${JSON.stringify(res.body)}`).toBe(400);
    }
  });

  it.each(liveRoutes.filter((r) => r.query).map((r) => [r.operationId, r] as const))("%s: query", async (_, route) => {
    const doc = docOf(route);
    const params = (operationOf(route, doc).parameters as Json[]).filter((p) => p.in === "query");
    expect(params.length).toBeGreaterThan(0);
    const validators = new Map(params.map((p) => [p.name as string, validatorFor(p.schema, doc)]));
    // A query value is a string on the wire; the document types numeric ones as numbers.
    const typed = (name: string, wire: string): unknown => {
      const p = params.find((x) => x.name === name) as Json;
      return ["integer", "number"].includes(p.schema.type) && wire.trim() !== "" && !Number.isNaN(Number(wire)) ? Number(wire) : wire;
    };
    const example: Record<string, string> = {};
    for (const [name, value] of Object.entries(withFixtures(route.queryExample ?? {}))) example[name] = String(value);
    for (const [name, wire] of Object.entries(example)) {
      const validator = validators.get(name);
      expect(validator, `${name} is a described parameter`).toBeDefined();
      expect(validator?.validate(typed(name, wire)).errors).toEqual([]);
    }
    const ok = await send(route, doc, undefined, example);
    expect(ok.status, JSON.stringify(ok.body)).not.toBe(400);
    expect(ok.status, JSON.stringify(ok.body)).toBeLessThan(500);

    let mutated = 0;
    for (const p of params) {
      const validator = validators.get(p.name) as Validator;
      const wire = ["abc", "-1", "\u0000 not valid", "x".repeat(5000)].find((w) => !validator.validate(typed(p.name, w)).valid);
      const bounds = pastBounds(p.schema).map(String).filter((w) => !validator.validate(typed(p.name, w)).valid);
      for (const w of [...(wire === undefined ? [] : [wire]), ...bounds]) {
        mutated++;
        const res = await send(route, doc, undefined, { ...example, [p.name]: w });
        expect(res.status, `${p.name}=${w.slice(0, 20)}: ${JSON.stringify(res.body)}`).toBe(400);
      }
    }
    expect(mutated).toBeGreaterThan(0);
  });

  // A path parameter with a described pattern: a value outside it names nothing, so the route
  // answers 400 (a secret's name is validated) or 404 (an id that cannot exist), never 2xx/5xx.
  it.each(allRoutes.filter((r) => r.auth === "admin" && Object.values(r.params ?? {}).some((p) => p.schema)).map((r) => [r.operationId, r] as const))("%s: path parameters", async (_, route) => {
    const doc = docOf(route);
    const path = openApiPathOf(route, doc);
    const op = operationOf(route, doc);
    const values = paramValues(route);
    for (const p of (op.parameters as Json[]).filter((x) => x.in === "path" && x.schema.pattern)) {
      const validator = validatorFor(p.schema, doc);
      if (values[p.name] !== undefined) expect(validator.validate(values[p.name]).errors).toEqual([]);
      const bad = "not valid!";
      expect(validator.validate(bad).valid).toBe(false);
      const url = path.replace(/\{([A-Za-z_]+)\}/g, (_, name: string) => encodeURIComponent(name === p.name ? bad : (values[name] ?? "doc-none")));
      const res = await call(route.method.toUpperCase(), url, { bearer: owner, body: route.body ? withFixtures(route.bodyExample as Json, route) : undefined });
      expect([400, 404], `${p.name}=${bad}: ${res.status} ${JSON.stringify(res.body)}`).toContain(res.status);
    }
  });

  // The roles a description names are the ones the route lets through: a role it leaves out is
  // answered 403, a role it names is not (both with the test tenant's own scoped token, on the
  // described example). Routes whose path names an object are left out unless the test has one.
  // POST /admin/tokens/revoke is left out: by jti (the example) it is owner-only, by the token
  // itself any role may call it (its description says so).
  const roleRoutes = allRoutes.filter((r) => r.auth === "admin" && r.roles && (r.body || r.query) && r.operationId !== "revokeToken" && Object.keys(r.params ?? {}).every((name) => ["updateAgent", "updateModel", "updateProvider"].includes(r.operationId) || name === "name"));
  it.each(roleRoutes.map((r) => [r.operationId, r] as const))("%s: roles", async (_, route) => {
    const doc = docOf(route);
    const roles = operationOf(route, doc)["x-edgeclaw-roles"] as string[];
    expect(roles).toEqual(route.roles);
    const scoped = { admin: await token({ sub: "doc-admin", role: "admin", tenant: t.tenantId }), viewer: await token({ sub: "doc-viewer", role: "viewer", tenant: t.tenantId }) };
    const query: Record<string, string> = {};
    for (const [name, value] of Object.entries(withFixtures(route.queryExample ?? {}))) query[name] = String(value);
    const qs = route.query ? `?${new URLSearchParams(query)}` : "";
    for (const role of ["admin", "viewer"] as const) {
      const res = await call(route.method.toUpperCase(), `${livePath(route, doc)}${qs}`, { bearer: scoped[role], body: route.body ? withFixtures(route.bodyExample as Json, route) : undefined });
      if (roles.includes(role)) expect(res.status, `${role}: ${JSON.stringify(res.body)}`).not.toBe(403);
      else expect(res.status, `${role}: ${JSON.stringify(res.body)}`).toBe(403);
    }
  });
});
