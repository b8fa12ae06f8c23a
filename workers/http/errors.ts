// One error type for everything the gateway refuses on purpose, rendered in the shape the caller
// expects: Anthropic's {type:"error",error:{type,message},request_id} under /v1/messages (the
// Anthropic Messages ingress: its SDK picks its error classes from the status and reads this
// body), OpenAI's {error:{message,type,param,code}} elsewhere under /v1, {error:{code,message}}
// everywhere else.
// Anything else that escapes a handler is logged and answered as a bare 500 without details.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppEnv } from "../env.ts";

export interface ApiErrorOptions {
  // OpenAI's `param`: the path of the offending field, e.g. "messages[0].content".
  param?: string | null;
  // Overrides the OpenAI `type` derived from the status.
  type?: string;
  headers?: Record<string, string>;
}

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly param: string | null;
  readonly type: string;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, code: string, message: string, options: ApiErrorOptions = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.param = options.param ?? null;
    this.type = options.type ?? openAiErrorType(status);
    this.headers = options.headers ?? {};
  }
}

function openAiErrorType(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status === 502 || status === 504) return "upstream_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

function isOpenAiPath(path: string): boolean {
  return path === "/v1" || path.startsWith("/v1/");
}

export function isAnthropicPath(path: string): boolean {
  return path === "/v1/messages" || path.startsWith("/v1/messages/");
}

// Anthropic's error types (https://docs.anthropic.com/en/api/errors) by status; the status itself
// is kept, so a 502 or 504 from an upstream stays one (type api_error).
export function anthropicErrorType(status: number): string {
  if (status === 400) return "invalid_request_error";
  if (status === 401) return "authentication_error";
  if (status === 402) return "billing_error";
  if (status === 403) return "permission_error";
  if (status === 404) return "not_found_error";
  if (status === 413) return "request_too_large";
  if (status === 429) return "rate_limit_error";
  if (status === 503 || status === 529) return "overloaded_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

export function errorBody(path: string, err: ApiError, requestId?: string): unknown {
  if (isAnthropicPath(path)) {
    return { type: "error", error: { type: anthropicErrorType(err.status), message: err.message }, ...(requestId ? { request_id: requestId } : {}) };
  }
  return isOpenAiPath(path)
    ? { error: { message: err.message, type: err.type, param: err.param, code: err.code } }
    : { error: { code: err.code, message: err.message } };
}

function errorResponse(c: Context<AppEnv>, err: ApiError): Response {
  return c.json(errorBody(c.req.path, err, c.get("requestId")), err.status, err.headers);
}

// app.onError: the last line of defence. Never echoes a stack or an internal message.
export function handleError(err: unknown, c: Context<AppEnv>): Response {
  if (err instanceof ApiError) return errorResponse(c, err);
  console.error(
    JSON.stringify({
      level: "error",
      requestId: c.get("requestId"),
      path: c.req.path,
      error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    }),
  );
  return errorResponse(
    c,
    new ApiError(500, "internal_error", `Internal error; quote request id ${c.get("requestId")}.`),
  );
}

export function handleNotFound(c: Context<AppEnv>): Response {
  const code = isOpenAiPath(c.req.path) ? "unknown_url" : "not_found";
  return errorResponse(c, new ApiError(404, code, `Unknown request URL: ${c.req.method} ${c.req.path}`));
}
