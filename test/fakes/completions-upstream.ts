// The fake's POST /v1/completions (legacy text completions), following OpenAI's contract:
// text_completion objects with one choice per prompt, SSE streams of text_completion chunks ending
// in `data: [DONE]`, and with stream_options.include_usage a last chunk with empty choices and the
// usage. The text is "echo: <prompt>" (token prompts: "echo: <n> tokens"), with " [suffix: <s>]"
// when a suffix came, and the prompt in front with echo: true. Usage: 5 prompt and 3 completion
// tokens per prompt.
import type { ServerResponse } from "node:http";
import { json } from "./upstream-http.ts";

function prompts(prompt: unknown): string[] {
  const text = (p: unknown) => (typeof p === "string" ? p : Array.isArray(p) ? `${p.length} tokens` : "");
  if (typeof prompt === "string") return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0 && typeof prompt[0] === "number") return [text(prompt)];
  return Array.isArray(prompt) ? prompt.map(text) : [""];
}

export function completionsAnswer(res: ServerResponse, body: Record<string, unknown>): void {
  const model = String(body.model);
  const list = prompts(body.prompt);
  const suffix = typeof body.suffix === "string" && body.suffix ? ` [suffix: ${body.suffix}]` : "";
  const texts = list.map((p) => `${body.echo === true ? p : ""}echo: ${p}${suffix}`);
  const usage = { prompt_tokens: 5 * list.length, completion_tokens: 3 * list.length, total_tokens: 8 * list.length };
  const base = { id: "cmpl-fake", object: "text_completion", created: 1_700_000_000, model };
  if (body.stream !== true) {
    return json(res, 200, { ...base, choices: texts.map((text, index) => ({ text, index, logprobs: null, finish_reason: "stop" })), usage });
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
  texts.forEach((text, index) => {
    const cut = Math.min(6, text.length);
    for (const piece of [text.slice(0, cut), text.slice(cut)]) send({ ...base, choices: [{ text: piece, index, logprobs: null, finish_reason: null }] });
    send({ ...base, choices: [{ text: "", index, logprobs: null, finish_reason: "stop" }] });
  });
  if ((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true) send({ ...base, choices: [], usage });
  res.end("data: [DONE]\n\n");
}
