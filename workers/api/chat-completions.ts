// POST /v1/chat/completions: validate the body, then run it through the chat pipeline
// (pipeline.ts) and answer as JSON or relay the SSE stream as it arrives.
import type { Context } from "hono";
import { chatCompletionRequest } from "../../schema/openai.ts";
import { settings, type AppEnv } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { legacyJson, legacyStream, wantsLegacyFunctions } from "./legacy-functions.ts";
import { runChat, SSE_HEADERS } from "./pipeline.ts";

export async function chatCompletions(c: Context<AppEnv>): Promise<Response> {
  const config = settings(c.env);
  const request = parseOr400(chatCompletionRequest, await readJsonBody(c, config.maxRequestBytes));
  if (request.n != null && request.n > 1) {
    throw new ApiError(400, "unsupported_value", "Only n=1 is supported: send one request per choice.", { param: "n" });
  }
  if (request.stream_options != null && request.stream !== true) {
    throw new ApiError(400, "invalid_value", "stream_options is only allowed when stream is true.", { param: "stream_options" });
  }
  const outcome = await runChat(c, request);
  const legacy = wantsLegacyFunctions(request);
  if (outcome.kind === "json") return c.body(legacy ? legacyJson(outcome.body) : outcome.body, 200, { "content-type": "application/json" });
  return c.body(legacy ? legacyStream(outcome.stream) : outcome.stream, 200, SSE_HEADERS);
}
