// The route-description registry behind /openapi.json and /admin/openapi.json (docs/openapi.md).
// Each route of the Hono app is described once here, with the very zod schema objects its
// handler passes to parseOr400, so the documents cannot drift from the validators; test/openapi/
// fails when a route has no description or a description names a route that does not exist.
import { z } from "zod";
import type { ApiKeyScope } from "../../schema/admin.ts";

export type Method = "get" | "post" | "put" | "patch" | "delete";

// Who may call: an admin JWT (roles below), a tenant API key (the scope below), a hook account's
// token, the operator's METRICS_TOKEN, a channel platform's own signature, or nobody at all.
export type Auth = "admin" | "api_key" | "hook_token" | "metrics_token" | "platform" | "none";

export type Role = "owner" | "admin" | "viewer";
export const ANY_ROLE: readonly Role[] = ["owner", "admin", "viewer"];
export const WRITERS: readonly Role[] = ["owner", "admin"];
export const OWNER: readonly Role[] = ["owner"];

export interface Answer {
  description: string;
  // A zod schema of the answer's body, where the gateway has one.
  schema?: z.ZodType;
  // application/json unless said otherwise.
  contentType?: string;
}

export interface RouteDoc {
  method: Method;
  // The path exactly as the Hono app registers it (":id", ":model{.+}"); the document writes it
  // the OpenAPI way ("{id}").
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: Auth;
  roles?: readonly Role[];
  scope?: ApiKeyScope;
  params?: Record<string, { description: string; schema?: z.ZodType }>;
  // The object schema the handler validates c.req.query() with.
  query?: z.ZodObject;
  queryExample?: Record<string, string | number>;
  // The schema the handler validates the JSON body with.
  body?: z.ZodType;
  bodyExample?: unknown;
  // Success answers by status; the error answers follow from auth and params (document.ts).
  ok: Record<number, Answer>;
}

// The gateway's one error shape (workers/http/errors.ts); /v1/messages answers Anthropic's.
export const errorBody = z.object({
  error: z.object({
    code: z.string().describe("A stable machine-readable code, e.g. invalid_value, not_found, forbidden."),
    message: z.string(),
    param: z.string().nullable().optional().describe("The offending field, e.g. messages[0].content."),
  }),
});

export const anthropicErrorBody = z.object({
  type: z.literal("error"),
  error: z.object({ type: z.string(), message: z.string() }),
  request_id: z.string().optional(),
});

// "/admin/jobs/:id" -> "/admin/jobs/{id}", "/v1/models/:model{.+}" -> "/v1/models/{model}".
// Split by hand (no RegExp): a Hono parameter may carry its own pattern in braces.
export function openApiPath(honoPath: string): string {
  return honoPath
    .split("/")
    .map((seg) => {
      if (!seg.startsWith(":")) return seg;
      const brace = seg.indexOf("{");
      return `{${brace === -1 ? seg.slice(1) : seg.slice(1, brace)}}`;
    })
    .join("/");
}

// The parameter names of a Hono path, in order.
export function pathParams(honoPath: string): string[] {
  return openApiPath(honoPath)
    .split("/")
    .filter((seg) => seg.startsWith("{"))
    .map((seg) => seg.slice(1, -1));
}
