// The Anthropic part of the fake upstream (served by openai-upstream.ts's server under /v1/messages),
// following Anthropic's documented contract (https://docs.anthropic.com/en/api/messages, its
// streaming events and https://docs.anthropic.com/en/api/messages-count-tokens): Message objects,
// SSE streams with `event:` names (message_start, content_block_start, ping, content_block_delta,
// content_block_stop, message_delta, message_stop, error) and {type:"error",error:{type,message}}
// bodies. anthropic-version is required, as is max_tokens on /v1/messages.
// POST /v1/messages answers, by what the request holds:
//   model claude-fail-<status>   that status with Anthropic's error type (429: retry-after 1)
//   model claude-break           (stream) one text delta, then an overloaded_error event
//   last user turn is tool_result blocks only   "echo: tool said <their text>" (end_turn)
//   tools declared               a get_weather tool_use with {"city":"Paris"} (tool_use)
//   otherwise                    "echo: <last user text>", cut at the first stop_sequence it
//                                contains (then stop_reason stop_sequence, as Anthropic does)
//   thinking {type:"enabled"}    a thinking block ("Let me think.", signature "sig-fake-1") first
// POST /v1/messages/count_tokens answers input_tokens = the length of JSON.stringify(messages),
// so a test can tell the upstream's count from the gateway's estimate and check what was sent.
// Every request is recorded like the rest of the fake: x-api-key as `authorization`,
// anthropic-version as `accept`, and the body.
import type { IncomingMessage, ServerResponse } from "node:http";

type Recorder = (requestId: string | null, what: { authorization: string | null; accept: string | null; body: Record<string, unknown> }) => string;
type Block = { type: string; text?: string; content?: unknown };
type Body = {
  model: string;
  stream?: boolean;
  messages: { role: string; content: string | Block[] }[];
  max_tokens?: number;
  tools?: unknown[];
  stop_sequences?: string[];
  thinking?: { type: string };
};

export const FAKE_SIGNATURE = "sig-fake-1";

export async function anthropicUpstream(req: IncomingMessage, res: ServerResponse, path: string, record: Recorder): Promise<void> {
  const body = JSON.parse(await readBody(req)) as Body;
  record(header(req, "x-request-id"), { authorization: header(req, "x-api-key"), accept: header(req, "anthropic-version"), body: body as unknown as Record<string, unknown> });
  const aerror = (status: number, type: string, message: string) => json(res, status, { type: "error", error: { type, message } });
  if (header(req, "anthropic-version") === null) return aerror(400, "invalid_request_error", "anthropic-version header is required");
  if (path === "/v1/messages/count_tokens") return json(res, 200, { input_tokens: JSON.stringify(body.messages).length });
  if (path !== "/v1/messages") return aerror(404, "not_found_error", `Not found: ${path}`);
  if (typeof body.max_tokens !== "number") return aerror(400, "invalid_request_error", "max_tokens: Field required");
  const fail = /^claude-fail-(\d{3})$/.exec(body.model);
  if (fail) {
    const code = Number(fail[1]);
    const type = code === 429 ? "rate_limit_error" : code === 529 ? "overloaded_error" : code === 400 ? "invalid_request_error" : "api_error";
    if (code === 429) res.setHeader("retry-after", "1");
    return aerror(code, type, code === 400 ? "prompt is too long: 300000 tokens > 200000 maximum" : `fake anthropic ${code}`);
  }
  const last = [...body.messages].reverse().find((m) => m.role === "user");
  const blocks: Block[] = typeof last?.content === "string" ? [{ type: "text", text: last.content }] : (last?.content ?? []);
  const said = blocks.filter((b) => b.type === "text").map((b) => b.text).join("");
  const results = blocks.filter((b) => b.type === "tool_result");
  const useTool = results.length === 0 && Array.isArray(body.tools) && body.tools.length > 0;
  let text = results.length > 0 && !said ? `echo: tool said ${results.map((r) => resultText(r.content)).join(" ")}` : `echo: ${said}`;
  let stopSequence: string | null = null;
  for (const stop of body.stop_sequences ?? []) {
    const at = text.indexOf(stop);
    if (at !== -1) {
      text = text.slice(0, at);
      stopSequence = stop;
      break;
    }
  }
  const thinking = body.thinking?.type === "enabled";
  const stopReason = useTool ? "tool_use" : stopSequence ? "stop_sequence" : "end_turn";
  const usage = { input_tokens: 12, output_tokens: 4 };
  if (!body.stream) {
    const content: Record<string, unknown>[] = thinking ? [{ type: "thinking", thinking: "Let me think.", signature: FAKE_SIGNATURE }] : [];
    content.push(useTool ? { type: "tool_use", id: "toolu_fake", name: "get_weather", input: { city: "Paris" } } : { type: "text", text });
    return json(res, 200, { id: "msg_fake", type: "message", role: "assistant", model: body.model, content, stop_reason: stopReason, stop_sequence: stopSequence, usage });
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const ev = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  ev("message_start", { message: { id: "msg_fake", type: "message", role: "assistant", model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 12, output_tokens: 1 } } });
  let index = 0;
  if (thinking) {
    ev("content_block_start", { index, content_block: { type: "thinking", thinking: "", signature: "" } });
    ev("content_block_delta", { index, delta: { type: "thinking_delta", thinking: "Let me think." } });
    ev("content_block_delta", { index, delta: { type: "signature_delta", signature: FAKE_SIGNATURE } });
    ev("content_block_stop", { index });
    index++;
  }
  ev("ping", {});
  if (useTool) {
    ev("content_block_start", { index, content_block: { type: "tool_use", id: "toolu_fake", name: "get_weather", input: {} } });
    ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: '{"city":' } });
    ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: '"Paris"}' } });
  } else {
    ev("content_block_start", { index, content_block: { type: "text", text: "" } });
    ev("content_block_delta", { index, delta: { type: "text_delta", text: text.slice(0, 6) } });
    if (body.model === "claude-break") {
      ev("error", { error: { type: "overloaded_error", message: "Overloaded" } });
      return void res.end();
    }
    ev("content_block_delta", { index, delta: { type: "text_delta", text: text.slice(6) } });
  }
  ev("content_block_stop", { index });
  ev("message_delta", { delta: { stop_reason: stopReason, stop_sequence: stopSequence }, usage: { output_tokens: 4 } });
  ev("message_stop", {});
  res.end();
}

function resultText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return (content as Block[]).filter((b) => b.type === "text").map((b) => b.text).join("");
  return "";
}

function header(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  return typeof value === "string" ? value : null;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
