// Workers AI through the `AI` binding (no HTTP, no credential): the mapped body goes to
// env.AI.run(model, inputs). Its answers are wrapped in the Response an HTTP upstream would have
// sent, so the shared call path (deadlines, error classes, SSE relay) applies unchanged:
//   non-stream: { response, tool_calls?, usage? }       -> chat.completion
//   stream:     SSE of { response, usage? }, [DONE]     -> chat.completion.chunk
//   a thrown error (its message starts with a numeric code) -> an HTTP status: capacity/rate
//   errors 429, unknown model or bad input 400, anything else 500.
import { z } from "zod";
import type { ParamMap, ParamRule, ProviderAdapter } from "./types.ts";

const same = (name: string) => ({ to: name });
// Needs nothing upstream.
const absorbed: ParamRule = { to: "", transform: () => undefined };
const customTool = (t: unknown) => (t as { type: string }).type === "custom";

// Text generation models take OpenAI-style function tools, and top_k and repetition_penalty
// among their sampling fields; the rest of OpenAI's surface (tool_choice, logprobs, stop, ...) and
// unknown fields are dropped and named in x-edgeclaw-dropped-params. Legacy `functions` become
// tools (Workers AI's own `functions` field means something else: code functions).
const params: ParamMap = {
  model: { to: "model", transform: (_v, { target }) => target.model },
  messages: { to: "messages", transform: (messages) => (messages as { role: string; content?: unknown }[]).map(flatten) },
  tools: {
    to: "tools",
    transform: (tools) => (tools as { type: string }[]).filter((t) => !customTool(t)),
    drops: (tools) => (tools as unknown[]).every(customTool),
    partly: (tools) => (tools as unknown[]).some(customTool),
  },
  functions: { to: "legacy_functions" },
  tool_choice: null,
  function_call: null,
  parallel_tool_calls: null,
  temperature: same("temperature"),
  top_p: same("top_p"),
  top_k: same("top_k"),
  repetition_penalty: same("repetition_penalty"),
  min_p: null,
  min_tokens: null,
  max_tokens: same("max_tokens"),
  max_completion_tokens: same("max_tokens"),
  stop: null,
  seed: same("seed"),
  response_format: same("response_format"),
  stream: same("stream"),
  // Usage comes with the stream's last event anyway; n is 1 here (n > 1 is refused earlier).
  stream_options: absorbed,
  n: absorbed,
  user: null,
  safety_identifier: null,
  presence_penalty: same("presence_penalty"),
  frequency_penalty: same("frequency_penalty"),
  logit_bias: null,
  logprobs: { to: "", transform: () => undefined, drops: (v) => v === true },
  top_logprobs: null,
  metadata: null,
  store: { to: "", transform: () => undefined, drops: (v) => v === true },
  reasoning_effort: null,
  service_tier: null,
  verbosity: null,
  prompt_cache_key: null,
  prompt_cache_retention: null,
  prompt_cache_options: null,
  modalities: { to: "", transform: () => undefined, drops: (v) => (v as string[]).includes("audio") },
  audio: null,
  prediction: null,
  web_search_options: null,
  moderation: null,
};

// Workers AI text models take string contents.
function flatten(m: { role: string; content?: unknown }) {
  if (!Array.isArray(m.content)) return m;
  return { ...m, content: m.content.map((p: { text?: string }) => p.text ?? "").join("") };
}

const answer = z.looseObject({
  response: z.string().nullish(),
  tool_calls: z.array(z.looseObject({ name: z.string(), arguments: z.unknown() })).optional(),
  usage: z.looseObject({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }).optional(),
});

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

function statusOf(message: string): number {
  if (/capacity|rate limit|too many/i.test(message) || /^3040\b/.test(message)) return 429;
  if (/no such model|invalid|bad input|^5\d{3}\b/i.test(message)) return 400;
  return 500;
}

export const workersAi: ProviderAdapter = {
  kind: "workers-ai",
  params,
  extras: "drop",
  chatUrl: () => "workers-ai:binding",
  headers: () => ({}),
  finalizeBody: ({ model: _model, legacy_functions, tools, ...inputs }) => {
    const all = [...((tools as unknown[] | undefined) ?? []), ...((legacy_functions as unknown[] | undefined) ?? []).map((f) => ({ type: "function", function: f }))];
    return { ...inputs, ...(all.length > 0 ? { tools: all } : {}) };
  },
  async send(body, ctx, env) {
    if (!env.AI) return json(500, { error: { message: "The Workers AI binding (AI) is not configured on this deployment." } });
    try {
      const result = await env.AI.run(ctx.target.model, body);
      if (result instanceof ReadableStream) {
        return new Response(result, { headers: { "content-type": "text/event-stream" } });
      }
      return json(200, result);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return json(statusOf(message), { error: { message } });
    }
  },
  toResponse: (body, ctx) => {
    const parsed = answer.safeParse(body);
    if (!parsed.success) return null;
    const calls = (parsed.data.tool_calls ?? []).map((c, i) => ({
      id: `call_${i}`,
      type: "function" as const,
      function: { name: c.name, arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments ?? {}) },
    }));
    const usage = parsed.data.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
    return {
      id: `chatcmpl-${crypto.randomUUID()}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: ctx.target.model,
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: parsed.data.response ?? (calls.length > 0 ? null : ""), ...(calls.length > 0 ? { tool_calls: calls } : {}) },
          finish_reason: calls.length > 0 ? "tool_calls" : "stop",
          logprobs: null,
        },
      ],
      usage,
    };
  },
  toStreamChunks: (data, _event, state) => {
    let ev: { response?: string; usage?: unknown };
    try {
      ev = JSON.parse(data) as typeof ev;
    } catch {
      return [];
    }
    const first = state.started !== true;
    state.started = true;
    const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ id: "chatcmpl-workers-ai", object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: "", choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }], ...extra });
    const out: string[] = [];
    if (first) out.push(chunk({ role: "assistant", content: "" }, null));
    if (ev.response) out.push(chunk({ content: ev.response }, null));
    if (ev.usage) out.push(chunk({}, "stop", { usage: ev.usage }));
    return out;
  },
  errorMessage: (body) => (body as { error?: { message?: string } } | null)?.error?.message,
};
