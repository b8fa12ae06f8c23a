// Errors in OpenAI's wire shape, so the openai SDK raises its typed errors (BadRequestError, ...)
// and a router can branch on `code` (model_not_found, context_length_exceeded, queue_full).
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export type OpenAIErrorBody = { error: { message: string; type: string; param: string | null; code: string | null } };

export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string | null;
  readonly param: string | null;
  readonly type: string;
  readonly headers: Record<string, string>;
  constructor(
    status: ContentfulStatusCode,
    message: string,
    code: string | null = null,
    param: string | null = null,
    type = status >= 500 ? "server_error" : "invalid_request_error",
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
    this.type = type;
    this.headers = headers;
  }

  get body(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** `messages[0].content` style, as OpenAI names a parameter inside a body. */
export function paramPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => (typeof key === "number" ? `${acc}[${key}]` : acc ? `${acc}.${String(key)}` : String(key)), "");
}

export function fromZod(error: z.ZodError): ApiError {
  const issue = error.issues[0]!;
  const param = paramPath(issue.path);
  return new ApiError(400, param ? `Invalid value for '${param}': ${issue.message}` : issue.message, "invalid_value", param || null);
}
