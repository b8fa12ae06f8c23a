// The OpenAI-compatible API under /v1. Timing wraps everything (auth included) so the overhead
// header covers the whole gateway share of a request.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { apiKeyAuth } from "../http/api-key-auth.ts";
import { timing } from "../http/timing.ts";
import { chatCompletions } from "./chat-completions.ts";
import { completions } from "./completions.ts";
import { embeddings } from "./embeddings.ts";
import { countTokens } from "./messages/count-tokens.ts";
import { createMessage } from "./messages/index.ts";
import { listModels, retrieveModel } from "./models.ts";
import { createResponse, removeResponse, retrieveResponse } from "./responses/index.ts";

export const v1 = new Hono<AppEnv>();

v1.use(timing());
v1.get("/models", apiKeyAuth("models:read"), listModels);
v1.get("/models/:model{.+}", apiKeyAuth("models:read"), retrieveModel);
v1.post("/chat/completions", apiKeyAuth("chat:write"), chatCompletions);
v1.post("/completions", apiKeyAuth("chat:write"), completions);
v1.post("/embeddings", apiKeyAuth("chat:write"), embeddings);
// OpenAI Responses API over the chat pipeline; stored responses are conversation data, so
// reading and deleting them takes the same scope as creating them.
v1.post("/responses", apiKeyAuth("chat:write"), createResponse);
v1.get("/responses/:id", apiKeyAuth("chat:write"), retrieveResponse);
v1.delete("/responses/:id", apiKeyAuth("chat:write"), removeResponse);
// Anthropic Messages ingress (errors in Anthropic's shape: workers/http/errors.ts).
v1.post("/messages", apiKeyAuth("chat:write"), createMessage);
v1.post("/messages/count_tokens", apiKeyAuth("chat:write"), countTokens);
