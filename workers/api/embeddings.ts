// POST /v1/embeddings: validate the body (inputs, encoding, batch limits), then run it through the
// shared pipeline as the embeddings operation (limits, budgets, the route tree, breakers, and the
// exact cache, on by default for embeddings) and answer OpenAI's embedding list.
import type { Context } from "hono";
import { extraParams } from "../../schema/chat-params.ts";
import { embeddingRequest, embeddingTokens, inputList, knownEmbeddingParams } from "../../schema/embeddings.ts";
import { knownChatParams, type ChatCompletionRequest } from "../../schema/openai.ts";
import { settings, type AppEnv } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { parseOr400 } from "../http/validation.ts";
import { runChat } from "./pipeline.ts";

export async function embeddings(c: Context<AppEnv>): Promise<Response> {
  const request = parseOr400(embeddingRequest, await readJsonBody(c, settings(c.env).maxRequestBytes));
  // What routing facts read (a conditional route may test language or header:*): the first text.
  const first = inputList(request.input)[0];
  const view: ChatCompletionRequest = {
    // Fields neither embeddings nor chat know: a kind that cannot carry them names them dropped.
    ...extraParams(request, knownEmbeddingParams, knownChatParams),
    model: request.model,
    messages: [{ role: "user", content: typeof first === "string" ? first : "" }],
    ...(request.user !== undefined ? { user: request.user } : {}),
  };
  const outcome = await runChat(c, view, { name: "embeddings", request, promptTokens: embeddingTokens(request.input) });
  // An embedding never streams (the chat view asks for none), so the outcome is JSON.
  return c.body(outcome.kind === "json" ? outcome.body : outcome.stream, 200, { "content-type": "application/json" });
}
