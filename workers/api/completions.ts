// POST /v1/completions (legacy text completions): validate the body, then run it through the shared
// pipeline as the completions operation: natively on OpenAI-compatible upstreams, translated to a
// one-message chat call elsewhere (workers/router/operations/completions.ts). The answer is a
// text_completion object, or a stream of text_completion chunks ending in data: [DONE].
import type { Context } from "hono";
import { completionRequest, promptTokens } from "../../schema/completions.ts";
import { settings, type AppEnv } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { chatView } from "../router/operations/completions.ts";
import { runChat, SSE_HEADERS } from "./pipeline.ts";

export async function completions(c: Context<AppEnv>): Promise<Response> {
  const request = parseOr400(completionRequest, await readJsonBody(c, settings(c.env).maxRequestBytes));
  if (request.n != null && request.n > 1) {
    throw new ApiError(400, "unsupported_value", "Only n=1 is supported: send one request per choice.", { param: "n" });
  }
  if (request.stream_options != null && request.stream !== true) {
    throw new ApiError(400, "invalid_value", "stream_options is only allowed when stream is true.", { param: "stream_options" });
  }
  // OpenAI's rule: the best of several candidates is only known once all are complete.
  if (request.best_of != null && request.best_of > 1 && request.stream === true) {
    throw new ApiError(400, "invalid_value", "best_of > 1 cannot be used with stream: true.", { param: "best_of" });
  }
  const outcome = await runChat(c, chatView(request), { name: "completions", request, promptTokens: promptTokens(request.prompt) });
  if (outcome.kind === "json") return c.body(outcome.body, 200, { "content-type": "application/json" });
  return c.body(outcome.stream, 200, SSE_HEADERS);
}
