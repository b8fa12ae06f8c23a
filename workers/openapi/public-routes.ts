// Descriptions of everything outside /admin: the OpenAI- and Anthropic-compatible /v1 API, the
// health probe, the Prometheus scrape, the channel webhooks and hooks, and the documents
// themselves. All of it is in the public document, /openapi.json.
import { z } from "zod";
import { countTokensRequest, messagesRequest, tokensCount } from "../../schema/anthropic.ts";
import { hookBody } from "../../schema/channels.ts";
import { completionRequest, completionResponse } from "../../schema/completions.ts";
import { embeddingRequest, embeddingResponse } from "../../schema/embeddings.ts";
import { chatCompletionRequest, chatCompletionResponse } from "../../schema/openai.ts";
import { responseCreateRequest } from "../../schema/responses.ts";
import { anthropicErrorBody, type RouteDoc } from "./registry.ts";

const chat = { auth: "api_key", scope: "chat:write" } as const;
const hello = [{ role: "user", content: "Hello!" }];
const anthropicError = { description: "An error in Anthropic's shape.", schema: anthropicErrorBody };
const sse = "A JSON object, or with stream: true a text/event-stream of chunks.";
// The answer schemas are the ones the gateway checks an upstream's answer with: the fields it
// relies on; an answer may carry more (the objects are open).
const json = "A JSON object (the fields the gateway checks; more may follow), or with stream: true a text/event-stream of chunks.";

export const publicRoutes: RouteDoc[] = [
  { auth: "api_key", scope: "models:read", method: "get", path: "/v1/models", operationId: "listModels", tag: "Models", summary: "List the models this key may call", ok: { 200: { description: "{object: \"list\", data: [model]}." } } },
  { auth: "api_key", scope: "models:read", method: "get", path: "/v1/models/:model{.+}", operationId: "retrieveModel", tag: "Models", summary: "Retrieve a model", params: { model: { description: "The model's public name (may contain slashes)." } }, ok: { 200: { description: "The model object." } } },
  { ...chat, method: "post", path: "/v1/chat/completions", operationId: "createChatCompletion", tag: "OpenAI", summary: "Create a chat completion (OpenAI)", description: "Routed by the tenant's router config (fallbacks, retries, breakers, cache, budgets).", body: chatCompletionRequest, bodyExample: { model: "gpt-4o-mini", messages: hello }, ok: { 200: { description: json, schema: chatCompletionResponse } } },
  { ...chat, method: "post", path: "/v1/completions", operationId: "createCompletion", tag: "OpenAI", summary: "Create a legacy text completion (OpenAI)", body: completionRequest, bodyExample: { model: "gpt-4o-mini", prompt: "Say hello." }, ok: { 200: { description: json, schema: completionResponse } } },
  { ...chat, method: "post", path: "/v1/embeddings", operationId: "createEmbedding", tag: "OpenAI", summary: "Create embeddings (OpenAI)", body: embeddingRequest, bodyExample: { model: "text-embedding-3-small", input: "Hello!" }, ok: { 200: { description: "{object: \"list\", data: [embedding], model, usage}.", schema: embeddingResponse } } },
  { ...chat, method: "post", path: "/v1/responses", operationId: "createResponse", tag: "OpenAI", summary: "Create a response (OpenAI Responses API)", body: responseCreateRequest, bodyExample: { model: "gpt-4o-mini", input: "Hello!" }, ok: { 200: { description: sse } } },
  { ...chat, method: "get", path: "/v1/responses/:id", operationId: "retrieveResponse", tag: "OpenAI", summary: "Retrieve a stored response", params: { id: { description: "The response's id (resp_...)." } }, ok: { 200: { description: "The response object." } } },
  { ...chat, method: "delete", path: "/v1/responses/:id", operationId: "deleteResponse", tag: "OpenAI", summary: "Delete a stored response", params: { id: { description: "The response's id (resp_...)." } }, ok: { 200: { description: "{id, object: \"response\", deleted: true}." } } },
  { ...chat, method: "post", path: "/v1/messages", operationId: "createMessage", tag: "Anthropic", summary: "Create a message (Anthropic Messages API)", description: "anthropic-version is optional (a date when present); errors come in Anthropic's shape.", body: messagesRequest, bodyExample: { model: "claude-sonnet-4-5", max_tokens: 256, messages: hello }, ok: { 200: { description: sse }, 400: anthropicError } },
  { ...chat, method: "post", path: "/v1/messages/count_tokens", operationId: "countMessageTokens", tag: "Anthropic", summary: "Count a message's input tokens (Anthropic)", body: countTokensRequest, bodyExample: { model: "claude-sonnet-4-5", messages: hello }, ok: { 200: { description: "{input_tokens}.", schema: tokensCount }, 400: anthropicError } },

  { auth: "none", method: "get", path: "/health", operationId: "health", tag: "Operations", summary: "Liveness probe", ok: { 200: { description: "{status: \"ok\"}.", schema: z.object({ status: z.literal("ok") }) } } },
  { auth: "metrics_token", method: "get", path: "/metrics", operationId: "metrics", tag: "Operations", summary: "Prometheus scrape (bearer METRICS_TOKEN)", ok: { 200: { description: "Prometheus text exposition format.", contentType: "text/plain; version=0.0.4" } } },
  { auth: "none", method: "get", path: "/openapi.json", operationId: "openApiPublic", tag: "Operations", summary: "This document", ok: { 200: { description: "OpenAPI 3.1 description of the public API." } } },

  { auth: "platform", method: "post", path: "/webhooks/:channel/:account", operationId: "channelWebhook", tag: "Channels", summary: "A chat platform's webhook delivery", description: "Each platform's own payload, checked against its own signature or secret before it is parsed (schema/telegram, slack, discord, line, whatsapp, feishu); register the URL the admin API gave for the account.", params: { channel: { description: "telegram, slack, discord, line, whatsapp or feishu." }, account: { description: "The channel account's id." } }, ok: { 200: { description: "Accepted (the platform's expected answer)." } } },
  { auth: "platform", method: "get", path: "/webhooks/:channel/:account", operationId: "channelWebhookVerify", tag: "Channels", summary: "A platform's webhook verification handshake (WhatsApp hub.challenge)", params: { channel: { description: "The platform." }, account: { description: "The channel account's id." } }, ok: { 200: { description: "The challenge, echoed.", contentType: "text/plain" } } },
  { auth: "hook_token", method: "post", path: "/hooks/agent", operationId: "hookAgent", tag: "Channels", summary: "Send a message to an agent from your own system (hook account)", body: hookBody, bodyExample: { text: "Summarise today's tickets.", peer: "ops-bot" }, ok: { 202: { description: "{id, status, poll_url}." } } },
  { auth: "hook_token", method: "get", path: "/hooks/agent/runs/:id", operationId: "hookAgentRun", tag: "Channels", summary: "Poll a hook message's run", params: { id: { description: "The run id from POST /hooks/agent." } }, ok: { 200: { description: "{id, status, reply}." } } },
  { auth: "none", method: "get", path: "/webchat/:account", operationId: "webchatPage", tag: "Channels", summary: "A WebChat account's chat page", params: { account: { description: "The WebChat channel account's id." } }, ok: { 200: { description: "The HTML page.", contentType: "text/html" } } },
  { auth: "none", method: "get", path: "/webchat/:account/ws", operationId: "webchatSocket", tag: "Channels", summary: "A WebChat account's WebSocket (Upgrade: websocket)", params: { account: { description: "The WebChat channel account's id." } }, ok: { 101: { description: "Switching protocols: JSON frames both ways." } } },
];
