// Builds an OpenAPI 3.1 document from route descriptions (registry.ts). Request schemas are the
// handlers' own zod schemas turned into JSON Schema 2020-12 (OpenAPI 3.1's dialect) by zod's
// z.toJSONSchema: io "input" describes what a client sends (before defaults and transforms);
// refinements (cross-field rules such as "required for slack") have no JSON Schema form and are
// left out — the description says so — and anything unrepresentable becomes {} rather than a
// thrown error ("unrepresentable: any"), so the document always builds.
import { z } from "zod";
import { errorBody, openApiPath, pathParams, type RouteDoc } from "./registry.ts";

type Json = Record<string, unknown>;

export interface DocumentInfo {
  title: string;
  description: string;
  version: string;
}

const SECURITY: Record<RouteDoc["auth"], Json[]> = {
  admin: [{ adminToken: [] }],
  api_key: [{ apiKey: [] }],
  hook_token: [{ hookToken: [] }],
  metrics_token: [{ metricsToken: [] }],
  platform: [],
  none: [],
};

const SECURITY_SCHEMES: Json = {
  adminToken: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "An admin token (npm run -s admin -- token --role owner|admin|viewer [--tenant id]). owner: every tenant; admin: one tenant, read and write; viewer: read only." },
  apiKey: { type: "http", scheme: "bearer", description: "A tenant API key, sk-ec-... (Anthropic clients may send it as x-api-key)." },
  hookToken: { type: "http", scheme: "bearer", description: "A hook channel account's token, ehk_..." },
  metricsToken: { type: "http", scheme: "bearer", description: "The deployment's METRICS_TOKEN." },
};

// A pipe that starts from z.unknown() (a pre-check such as schema/json-bounds.ts's depth bound
// on the router config) has an opaque input side, {} in JSON Schema; what a client must send is
// its output side, the same schema object the validator runs next. An object's fields of that
// kind (and such a pipe itself) are described by that side.
function described(schema: z.ZodType): z.ZodType {
  const opaque = (s: unknown): s is z.ZodPipe => s instanceof z.ZodPipe && s.in instanceof z.ZodUnknown;
  if (opaque(schema)) return schema.out as z.ZodType;
  if (!(schema instanceof z.ZodObject)) return schema;
  const swapped = Object.entries(schema.shape).filter(([, v]) => opaque(v));
  if (swapped.length === 0) return schema;
  return schema.extend(Object.fromEntries(swapped.map(([k, v]) => [k, (v as z.ZodPipe).out])));
}

// One schema as JSON Schema, its $defs (recursive schemas such as the router config's
// conditions) hoisted into components.schemas under a per-operation prefix, since a "#/$defs/"
// reference inside an OpenAPI document would resolve against the document's root.
function jsonSchema(schema: z.ZodType, prefix: string, components: Json, io: "input" | "output" = "input"): Json {
  const raw = z.toJSONSchema(described(schema), { io, unrepresentable: "any", target: "draft-2020-12" }) as Json;
  const { $schema: _drop, $defs, ...rest } = raw;
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node === null || typeof node !== "object") return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && v.startsWith("#/$defs/")) out[k] = `#/components/schemas/${prefix}_${v.slice(8)}`;
      else if (k === "$ref" && v === "#") out[k] = `#/components/schemas/${prefix}`;
      else out[k] = rewrite(v);
    }
    return out;
  };
  for (const [name, def] of Object.entries(($defs ?? {}) as Json)) components[`${prefix}_${name}`] = rewrite(def);
  const body = rewrite(rest) as Json;
  // A self-reference ("#") needs the schema itself as a component.
  if (JSON.stringify(body).includes(`"#/components/schemas/${prefix}"`)) {
    components[prefix] = body;
    return { $ref: `#/components/schemas/${prefix}` };
  }
  return body;
}

const errorRef = (description: string) => ({ description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });

function operation(route: RouteDoc, components: Json): Json {
  const parameters: Json[] = [];
  for (const name of pathParams(route.path)) {
    const p = route.params?.[name];
    const schema = p?.schema ? jsonSchema(p.schema, `${route.operationId}_${name}`, components) : { type: "string" };
    parameters.push({ name, in: "path", required: true, description: p?.description ?? name, schema });
  }
  if (route.query) {
    const q = jsonSchema(route.query, `${route.operationId}_query`, components);
    const props = (q.properties ?? {}) as Record<string, Json>;
    const required = new Set((q.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(props)) {
      parameters.push({ name, in: "query", required: required.has(name), schema });
    }
  }
  const responses: Json = {};
  for (const [status, answer] of Object.entries(route.ok)) {
    const contentType = answer.contentType ?? "application/json";
    const schema = answer.schema ? jsonSchema(answer.schema, `${route.operationId}_${status}`, components, "output") : undefined;
    responses[status] = { description: answer.description, ...(schema || contentType !== "application/json" ? { content: { [contentType]: schema ? { schema } : {} } } : {}) };
  }
  const validated = route.body !== undefined || route.query !== undefined || Object.values(route.params ?? {}).some((p) => p.schema);
  if (validated && !responses["400"]) responses["400"] = errorRef("The request does not match the schema; error.param names the field.");
  if (route.auth === "admin") {
    responses["401"] ??= errorRef("No valid admin token.");
    responses["403"] ??= errorRef("The token's role or tenant scope does not allow this.");
  }
  if (route.auth === "api_key" || route.auth === "hook_token" || route.auth === "metrics_token") responses["401"] ??= errorRef("No valid credential.");
  if (route.params !== undefined) responses["404"] ??= errorRef("No such object (or it belongs to another tenant).");
  const roles = route.roles ? `\n\nRoles: ${route.roles.join(", ")}.` : "";
  const scope = route.scope ? `\n\nAPI key scope: ${route.scope}.` : "";
  const op: Json = {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description || roles || scope ? { description: `${route.description ?? route.summary}${roles}${scope}` } : {}),
    tags: [route.tag],
    security: SECURITY[route.auth],
    ...(route.roles ? { "x-edgeclaw-roles": route.roles } : {}),
    ...(route.scope ? { "x-edgeclaw-scope": route.scope } : {}),
    ...(parameters.length > 0 ? { parameters } : {}),
    responses,
  };
  if (route.body) {
    const schema = jsonSchema(route.body, `${route.operationId}_body`, components);
    op.requestBody = { required: true, content: { "application/json": { schema, ...(route.bodyExample !== undefined ? { example: route.bodyExample } : {}) } } };
  }
  return op;
}

export function buildDocument(routes: readonly RouteDoc[], info: DocumentInfo): Json {
  const components: Json = { Error: jsonSchema(errorBody, "Error", {}) };
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    (paths[path] as Json)[route.method] = operation(route, components);
  }
  const tags = [...new Set(routes.map((r) => r.tag))].map((name) => ({ name }));
  return {
    openapi: "3.1.0",
    info,
    // No jsonSchemaDialect: the OpenAPI 3.1 default (its base dialect, JSON Schema 2020-12 plus
    // OpenAPI's vocabulary) fits the schemas zod writes, and Swagger UI warns on any other value.
    servers: [{ url: "/" }],
    tags,
    paths,
    components: { schemas: components, securitySchemes: SECURITY_SCHEMES },
  };
}
