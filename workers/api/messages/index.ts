// POST /v1/messages: Anthropic's Messages API as an ingress. The body is validated as Anthropic
// defines it (schema/anthropic.ts), translated to a chat request (to-chat.ts) that carries the
// original for Anthropic upstreams, run through the shared chat pipeline (the same limits,
// budgets, routes, fallbacks, breakers and cache as /v1/chat/completions), and the answer is
// translated back: a Message (from-chat.ts) or Anthropic's event stream (stream.ts). Errors on
// these paths are rendered in Anthropic's shape by workers/http/errors.ts.
// Headers: anthropic-version may be missing (DEFAULT_ANTHROPIC_VERSION is assumed; the gateway
// reads no field whose meaning depends on it) and must be a date when present; anthropic-beta is
// accepted and not forwarded (the gateway implements no beta, and an upstream must not be told
// the client may receive what the gateway cannot translate).
import type { Context } from "hono";
import { anthropicVersion, DEFAULT_ANTHROPIC_VERSION, messagesRequest } from "../../../schema/anthropic.ts";
import { settings, type AppEnv } from "../../env.ts";
import { readJsonBody } from "../../http/body.ts";
import { ApiError } from "../../http/errors.ts";
import { parseOr400 } from "../../http/validation.ts";
import { estimatePromptTokens } from "../../router/facts.ts";
import { runChat, SSE_HEADERS } from "../pipeline.ts";
import { chatToMessage } from "./from-chat.ts";
import { chatStreamToMessages } from "./stream.ts";
import { messagesToChat } from "./to-chat.ts";

export function checkAnthropicVersion(c: Context<AppEnv>): string {
  const version = c.req.header("anthropic-version")?.trim();
  if (version === undefined || version === "") return DEFAULT_ANTHROPIC_VERSION;
  if (!anthropicVersion.test(version)) {
    throw new ApiError(400, "invalid_anthropic_version", `anthropic-version: '${version.slice(0, 64)}' is not a valid version (expected a date such as ${DEFAULT_ANTHROPIC_VERSION}).`);
  }
  return version;
}

export async function createMessage(c: Context<AppEnv>): Promise<Response> {
  checkAnthropicVersion(c);
  const request = parseOr400(messagesRequest, await readJsonBody(c, settings(c.env).maxRequestBytes));
  const chat = messagesToChat(request);
  const wantThinking = request.thinking?.type === "enabled" || request.thinking?.type === "adaptive";
  const outcome = await runChat(c, chat);
  if (outcome.kind === "json") {
    const message = chatToMessage(outcome.body, request.model, { stopSequences: request.stop_sequences, wantThinking });
    return c.json(message, 200);
  }
  const stream = chatStreamToMessages(outcome.stream, {
    model: request.model,
    inputTokensEstimate: estimatePromptTokens(chat),
    stopSequences: request.stop_sequences,
    wantThinking,
  });
  return c.body(stream, 200, SSE_HEADERS);
}
