// vLLM's POST /tokenize and POST /detokenize, so tools written for vLLM count tokens here unchanged.
// /tokenize takes a raw prompt or chat messages (rendered with the model's template and the
// generation prompt, as /v1/chat/completions renders them); it never refuses a long prompt, since
// counting one is its point.
import type { Context } from "hono";
import type { Token } from "node-llama-cpp";
import { toChatMessages } from "../chat-request.ts";
import type { Deps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { modelFor, parseRequest } from "../slot-session.ts";
import { DetokenizeRequest, TokenizeRequest } from "../v1-schemas.ts";
import { assertTokenIds } from "./completions.ts";

export function tokenize(deps: Deps) {
  return async (c: Context) => {
    const body = await parseRequest(c, TokenizeRequest);
    const model = modelFor(deps, body.model);
    let tokens: readonly Token[];
    if ("prompt" in body) {
      tokens = model.tokenizeText(body.prompt, body.add_special_tokens !== false);
    } else {
      if (body.add_generation_prompt === false) throw new ApiError(400, "add_generation_prompt: false is not supported; messages are rendered as a chat request renders them.", "unsupported_value", "add_generation_prompt");
      tokens = model.render(toChatMessages(body.messages)).tokens;
    }
    return c.json({ count: tokens.length, max_model_len: model.contextSize, tokens, token_strs: null });
  };
}

export function detokenize(deps: Deps) {
  return async (c: Context) => {
    const body = await parseRequest(c, DetokenizeRequest);
    const model = modelFor(deps, body.model);
    assertTokenIds(model, body.tokens, "tokens");
    return c.json({ prompt: model.detokenize(body.tokens as Token[]) });
  };
}
