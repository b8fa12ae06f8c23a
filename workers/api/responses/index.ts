// POST /v1/responses, GET /v1/responses/:id and DELETE /v1/responses/:id: OpenAI's Responses
// API as an ingress over the chat pipeline. A request is validated (schema/responses.ts), its
// conversation rebuilt from the tenant's stored chain when it names previous_response_id
// (store.ts), translated to a chat request (to-chat.ts) and run by runChat like any chat
// completion (routes, limits, budgets, breakers, cache); the answer comes back as a Response
// object (shape.ts) or the Responses event stream (stream.ts). With store (the default) the
// response and its input are kept for the tenant before the client sees the end of it.
import type { Context } from "hono";
import { responseCreateRequest, responseId, type InputItem } from "../../../schema/responses.ts";
import { settings, type AppEnv } from "../../env.ts";
import { readJsonBody } from "../../http/body.ts";
import { ApiError } from "../../http/errors.ts";
import { parseOr400 } from "../../http/validation.ts";
import { runChat, SSE_HEADERS } from "../pipeline.ts";
import { refuseUnsupportedParams, refuseUnsupportedShapes } from "./refuse.ts";
import { baseResponse, newId, responseFromChat, type ResponseObject } from "./shape.ts";
import { conversationBefore, deleteResponse, loadResponse, saveResponse } from "./store.ts";
import { replayStream, responsesStream } from "./stream.ts";
import { toChatRequest, type Placed } from "./to-chat.ts";

export async function createResponse(c: Context<AppEnv>): Promise<Response> {
  const body = await readJsonBody(c, settings(c.env).maxRequestBytes);
  refuseUnsupportedShapes(body);
  const req = parseOr400(responseCreateRequest, body);
  refuseUnsupportedParams(req);
  const tenantId = c.get("principal").tenantId;

  const input: InputItem[] = typeof req.input === "string" ? [{ type: "message", role: "user", content: req.input }] : (req.input ?? []);
  const history = req.previous_response_id
    ? await conversationBefore(c.env, tenantId, req.previous_response_id, req.truncation ?? "disabled")
    : [];
  const conversation: Placed[] = [
    ...history.map((item) => ({ item, param: "previous_response_id" })),
    ...input.map((item, i) => ({ item, param: typeof req.input === "string" ? "input" : `input[${i}]` })),
  ];
  const stream = req.stream === true;
  const chat = toChatRequest(req, conversation, stream);

  const base = baseResponse(newId("resp"), Math.floor(Date.now() / 1000), req);
  const keep = (response: ResponseObject): Promise<void> =>
    req.store === false ? Promise.resolve() : saveResponse(c.env, tenantId, { response, input });

  const outcome = await runChat(c, chat);
  if (outcome.kind === "sse") return c.body(responsesStream(outcome.stream, base, keep), 200, SSE_HEADERS);
  const final = responseFromChat(base, outcome.body);
  await keep(final);
  if (stream) return c.body(replayStream(final), 200, SSE_HEADERS);
  return c.json(final);
}

export async function retrieveResponse(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const stored = responseId.safeParse(id).success ? await loadResponse(c.env, c.get("principal").tenantId, id) : null;
  if (!stored) throw notFound(id);
  if (c.req.query("stream") === "true") return c.body(replayStream(stored.response), 200, SSE_HEADERS);
  return c.json(stored.response);
}

export async function removeResponse(c: Context<AppEnv>): Promise<Response> {
  const id = c.req.param("id") ?? "";
  const deleted = responseId.safeParse(id).success && (await deleteResponse(c.env, c.get("principal").tenantId, id));
  if (!deleted) throw notFound(id);
  return c.json({ id, object: "response.deleted", deleted: true });
}

function notFound(id: string): ApiError {
  return new ApiError(404, "not_found", `Response with id '${id.slice(0, 128)}' not found.`, { param: "response_id" });
}
