// POST /v1/completions: OpenAI's legacy text completions. The prompt is used as given, with no chat
// template; generation runs through the token loop (engine/token-loop.ts), so `logprobs` works.
import type { Context } from "hono";
import type { Token } from "node-llama-cpp";
import { ContextLengthError, type GenerationResult, type LoadedModel } from "../../engine/loaded-model.ts";
import type { TokenLogprob } from "../../engine/token-loop.ts";
import { completionId, usage } from "../chat-response.ts";
import type { Deps } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { abandoned, ClientGone, holdSlot, modelFor, parseRequest, sse } from "../slot-session.ts";
import { CompletionRequest } from "../v1-schemas.ts";

/** OpenAI's default for this endpoint (and vLLM's). */
const DEFAULT_MAX_TOKENS = 16;

/** Token ids outside the vocabulary would read past the embedding table in llama.cpp. */
export function assertTokenIds(model: LoadedModel, tokens: readonly number[], param: string): void {
  const size = model.vocabularySize;
  const bad = tokens.findIndex((t) => t >= size);
  if (bad >= 0) throw new ApiError(400, `Token id ${tokens[bad]} is outside this model's vocabulary (0 to ${size - 1}).`, "invalid_value", param);
}

/** The legacy logprobs object: parallel arrays, top alternatives as {token: logprob} maps. */
function legacyLogprobs(lp: readonly TokenLogprob[], offsetBase: number, withTop: boolean) {
  return {
    tokens: lp.map((t) => t.token),
    token_logprobs: lp.map((t) => t.logprob),
    top_logprobs: withTop ? lp.map((t) => Object.fromEntries(t.top_logprobs.map((a) => [a.token, a.logprob]))) : null,
    text_offset: lp.map((t) => offsetBase + t.offset),
  };
}

export function completions(deps: Deps) {
  return async (c: Context) => {
    const arrivedAt = performance.now();
    const body = await parseRequest(c, CompletionRequest);
    if ((body.n ?? 1) > 1) throw new ApiError(400, "n > 1 is not supported; send one request per choice.", "unsupported_value", "n");
    if ((body.best_of ?? 1) > 1) throw new ApiError(400, "best_of > 1 is not supported.", "unsupported_value", "best_of");
    // Fill-in-the-middle needs the model's infill tokens and template; refused rather than faked.
    if (body.suffix) throw new ApiError(400, "suffix (fill-in-the-middle) is not supported by this backend.", "unsupported_value", "suffix");
    if (body.echo && body.logprobs != null) throw new ApiError(400, "echo with logprobs (prompt logprobs) is not supported by this backend.", "unsupported_value", "logprobs");

    const model = modelFor(deps, body.model);
    const raw = Array.isArray(body.prompt) ? body.prompt[0]! : body.prompt;
    let tokens: Token[];
    if (typeof raw === "string") {
      tokens = model.tokenizeText(raw);
    } else if (typeof raw === "number") {
      assertTokenIds(model, body.prompt as number[], "prompt");
      tokens = body.prompt as Token[];
    } else {
      assertTokenIds(model, raw, "prompt");
      tokens = raw as Token[];
    }
    if (tokens.length === 0) throw new ApiError(400, "The prompt is empty.", "invalid_value", "prompt");
    let maxTokens: number;
    try {
      maxTokens = model.fit(tokens.length, body.max_tokens ?? DEFAULT_MAX_TOKENS);
    } catch (e) {
      if (e instanceof ContextLengthError) throw new ApiError(400, e.message, "context_length_exceeded", "prompt");
      throw e;
    }
    const echo = body.echo ? (typeof raw === "string" ? raw : model.detokenize(tokens)) : "";
    const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
    const params = {
      maxTokens,
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? undefined,
      seed: body.seed ?? undefined,
      stop,
      frequencyPenalty: body.frequency_penalty ?? undefined,
      presencePenalty: body.presence_penalty ?? undefined,
      logprobs: body.logprobs ?? undefined,
    };
    const session = await holdSlot(c, deps, model, { tokens, promptTokens: tokens.length }, arrivedAt, "text_completion");
    const id = completionId("cmpl");
    const created = Math.floor(Date.now() / 1000);
    const withTop = (body.logprobs ?? 0) > 0;
    const choice = (text: string, lp: readonly TokenLogprob[] | undefined, finish: string | null, offsetBase: number) => ({
      text, index: 0, logprobs: lp ? legacyLogprobs(lp, offsetBase, withTop) : null, finish_reason: finish,
    });
    const head = { id, object: "text_completion" as const, created, model: model.id, system_fingerprint: model.fingerprint };

    if (!body.stream) {
      let result: GenerationResult;
      try {
        result = await model.generateTokens(session.slot, tokens, params, { signal: session.cancel.signal });
      } catch (e) {
        session.finish(session.cancel.signal.aborted ? "cancelled" : "error");
        throw session.cancel.signal.aborted ? abandoned() : e;
      }
      session.finish(result.finishReason, result);
      return c.json({ ...head, choices: [choice(echo + result.text, result.logprobs, result.finishReason, echo.length)], usage: usage(result.promptTokens, result.completionTokens) });
    }

    const includeUsage = body.stream_options?.include_usage === true;
    const encoder = new TextEncoder();
    const data = (v: unknown) => encoder.encode(`data: ${JSON.stringify(v)}\n\n`);
    const tail = includeUsage ? { usage: null } : {};
    return sse(c, new ReadableStream<Uint8Array>({
      async start(controller) {
        try {
          if (echo) controller.enqueue(data({ ...head, choices: [choice(echo, undefined, null, 0)], ...tail }));
          const result = await model.generateTokens(session.slot, tokens, params, {
            signal: session.cancel.signal,
            onText: (text, lp) => controller.enqueue(data({ ...head, choices: [choice(text, params.logprobs !== undefined ? lp : undefined, null, echo.length)], ...tail })),
          });
          session.finish(result.finishReason, result);
          controller.enqueue(data({ ...head, choices: [choice("", undefined, result.finishReason, 0)], ...tail }));
          if (includeUsage) controller.enqueue(data({ ...head, choices: [], usage: usage(result.promptTokens, result.completionTokens) }));
          controller.enqueue(encoder.encode("data: [DONE]\n\n"));
          controller.close();
        } catch (e) {
          const gone = session.cancel.signal.aborted;
          session.finish(gone ? "cancelled" : "error");
          if (gone) return;
          console.error(`[gpu-backend] completion stream for ${model.id} failed:`, e instanceof Error ? e.message : e);
          controller.enqueue(data(new ApiError(500, "Generation failed.", "generation_failed").body));
          controller.close();
        }
      },
      cancel() {
        session.cancel.abort(new ClientGone("client disconnected"));
      },
    }));
  };
}
