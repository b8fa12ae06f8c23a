// A local fake of an OpenAI-compatible upstream (POST /v1/chat/completions; /v1/embeddings and
// /v1/completions are in embeddings-upstream.ts and completions-upstream.ts), following OpenAI's
// documented contract: chat.completion objects, SSE streams of chat.completion.chunk objects
// ending in `data: [DONE]`, the usage chunk with empty choices when
// stream_options.include_usage is set, and {error:{message,type,param,code}} bodies with the
// status. The requested model id picks a behaviour, so one server covers every case:
//   fake-echo            answers "echo: <last user text>" (stream or not)
//   fake-tools           answers with a tool call (stream: arguments split over deltas)
//   fake-gated           streams one chunk, then waits for POST /control/release/<x-request-id>
//   fake-stall           streams one chunk, then nothing
//   fake-reset           streams one chunk, then drops the connection
//   fake-slow            waits 30 s before answering
//   fake-redirect        answers 307 to the capture server (the gateway must not follow)
//   fake-status-<code>   answers that HTTP status with an OpenAI error body (429: Retry-After: 7)
//   fake-garbage         200 with a body that is not JSON
//   fake-wrong-shape     200 with JSON that is not a chat completion
//   fake-ctx-small       400 context_length_exceeded (OpenAI's code)
//   fake-policy          400 content_policy_violation
//   fake-huge-body       200 with a 17 MiB JSON body, chunked (no Content-Length)
//   fake-huge-length     the same with its Content-Length
//   fake-endless-event   an SSE stream whose first event never ends (no blank line, ever)
//   fake-endless-late    one normal chunk, then an event that never ends
//   fake-huge-stream     34 events of 512 KiB each (17 MiB in all), then [DONE]
//   fake-scn-<id>        a scripted scenario (chat, embeddings and completions alike), set
//                        with POST /control/scenario/<id>:
//                        {mode: ok|fail|stall|delay, status, retry_after, delay_ms, fail_first,
//                        queue_depth, fail_if_text, stream_words, stream_every_ms,
//                        stream_fail_after}; GET /control/scenario/<id> answers its call
//                        counts (total and per replica). stream_words N: a long, slow answer,
//                        "echo: <text>" then " <word>1" ... " <word>N" (stream_word, default
//                        "word"), streamed one piece every stream_every_ms (default 100);
//                        stream_fail_after K: the connection drops after K pieces
// The same API is served under /r/<replica>/v1/... (one fake per GPU replica), with a vLLM-style
// /r/<replica>/metrics whose gauges the scenario's `replica_queue` sets (GET
// /control/metrics-hits/<replica> counts its polls).
// A capture server (what an attacker would point a credential at): POST /control/capture starts
// it on a port of its own and answers its URL; it answers every request like a model would and
// records the credential headers it got, listed by GET /control/captured.
// Anthropic's Messages API is at POST /v1/messages and /v1/messages/count_tokens: see
// anthropic-upstream.ts.
// POST /v1/traces is an OTLP/HTTP JSON trace receiver (otlp-receiver.ts; GET /control/traces/<id>).
// Every request is recorded (headers that matter, traceparent, body) under its x-request-id:
// GET /control/requests/<x-request-id>.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { anthropicUpstream } from "./anthropic-upstream.ts";
import { completionsAnswer } from "./completions-upstream.ts";
import { embeddingsAnswer } from "./embeddings-upstream.ts";
import { header, json, readBody } from "./upstream-http.ts";
import { otlpReceiver } from "./otlp-receiver.ts";

export interface RecordedRequest {
  authorization: string | null;
  accept: string | null;
  body: Record<string, unknown>;
  // The W3C trace context the gateway propagated (test/observability/).
  traceparent?: string | null;
}

export interface FakeUpstream {
  url: string;
  close(): Promise<void>;
}

type Message = { role: string; content?: unknown };

export interface Scenario {
  mode?: "ok" | "fail" | "stall" | "delay";
  status?: number;
  retry_after?: string;
  delay_ms?: number;
  // Fail this many calls (with `status`), then answer normally.
  fail_first?: number;
  queue_depth?: number;
  replica_queue?: Record<string, number>;
  // Fail (with `status`) only the requests whose last user message contains this text.
  fail_if_text?: string;
  // A long, slow streamed answer (streamed replies edited in place, test/channels/streaming*).
  stream_words?: number;
  stream_word?: string;
  stream_every_ms?: number;
  stream_fail_after?: number;
}

const MAX_RECORDED = 10_000;

export async function startFakeUpstream(port = 0): Promise<FakeUpstream> {
  const recorded = new Map<string, RecordedRequest>();
  const scenarios = new Map<string, Scenario>();
  const counts = new Map<string, { total: number; replicas: Record<string, number> }>();
  const gates = new Map<string, () => void>();
  const released = new Set<string>();
  let anonymous = 0;
  const metricsHits = new Map<string, number>();
  // The authorization header of each replica's last metrics poll.
  const metricsAuth = new Map<string, string | null>();
  const captured: { path: string; authorization: string | null; apiKey: string | null }[] = [];
  let capture: { server: ReturnType<typeof createServer>; url: string } | null = null;
  // The most recent requests only: a benchmark sends hundreds of thousands, and an unbounded map
  // would make this process's garbage collection part of every measured latency.
  const record = (requestId: string | null, what: RecordedRequest) => {
    if (recorded.size >= MAX_RECORDED) recorded.delete(recorded.keys().next().value as string);
    const id = requestId ?? `anon-${anonymous++}`;
    recorded.set(id, what);
    return id;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { message: String(err), type: "server_error", param: null, code: null } });
      else res.destroy();
    });
  });

  // The OTLP trace receiver the gateway's exporter is pointed at (test/fakes/otlp-receiver.ts).
  const otlp = otlpReceiver();

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    if (await otlp(req, res, url.pathname)) return;
    const replicaPath = /^\/r\/([A-Za-z0-9_-]+)(\/.*)$/.exec(url.pathname);
    const replica = replicaPath?.[1] ?? null;
    if (replicaPath) url.pathname = replicaPath[2] as string;
    if (url.pathname.startsWith("/control/scenario/")) {
      const id = decodeURIComponent(url.pathname.slice("/control/scenario/".length));
      if (req.method === "POST") {
        scenarios.set(id, JSON.parse(await readBody(req)) as Scenario);
        return json(res, 200, { ok: true });
      }
      return json(res, 200, counts.get(id) ?? { total: 0, replicas: {} });
    }
    if (req.method === "POST" && url.pathname === "/control/capture") {
      capture ??= await startCapture();
      return json(res, 200, { url: capture.url });
    }
    if (req.method === "GET" && url.pathname === "/control/captured") return json(res, 200, captured);
    if (req.method === "GET" && url.pathname.startsWith("/control/metrics-hits/")) {
      const polled = decodeURIComponent(url.pathname.slice("/control/metrics-hits/".length));
      return json(res, 200, { hits: metricsHits.get(polled) ?? 0, authorization: metricsAuth.get(polled) ?? null });
    }
    if (req.method === "GET" && url.pathname === "/metrics" && replica) {
      metricsHits.set(replica, (metricsHits.get(replica) ?? 0) + 1);
      metricsAuth.set(replica, header(req, "authorization"));
      const queued = [...scenarios.values()].map((s) => s.replica_queue?.[replica]).find((q) => q !== undefined) ?? 0;
      res.writeHead(200, { "content-type": "text/plain" });
      return void res.end(`# HELP vllm:num_requests_waiting waiting\nvllm:num_requests_waiting{model_name="m"} ${queued}\nvllm:num_requests_running{model_name="m"} 0\n`);
    }
    if (req.method === "POST" && url.pathname.startsWith("/v1/messages")) return anthropicUpstream(req, res, url.pathname, record);
    if (req.method === "GET" && url.pathname.startsWith("/control/requests/")) {
      const found = recorded.get(decodeURIComponent(url.pathname.slice("/control/requests/".length)));
      return found ? json(res, 200, found) : json(res, 404, { error: "not recorded" });
    }
    if (req.method === "POST" && url.pathname.startsWith("/control/release/")) {
      const id = decodeURIComponent(url.pathname.slice("/control/release/".length));
      released.add(id);
      gates.get(id)?.();
      return json(res, 200, { released: id });
    }
    const operation = req.method === "POST" ? OPERATIONS[url.pathname] : undefined;
    if (!operation) {
      return json(res, 404, { error: { message: "Not found", type: "invalid_request_error", param: null, code: null } });
    }

    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    const requestId = record(header(req, "x-request-id"), { authorization: header(req, "authorization"), accept: header(req, "accept"), traceparent: header(req, "traceparent"), body });

    const model = String(body.model);
    const stream = body.stream === true;
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const scenarioId = /^fake-scn-(.+)$/.exec(model)?.[1];
    let slow: Scenario | null = null;
    if (scenarioId !== undefined) {
      const c = counts.get(scenarioId) ?? { total: 0, replicas: {} };
      c.total++;
      if (replica) c.replicas[replica] = (c.replicas[replica] ?? 0) + 1;
      counts.set(scenarioId, c);
      const scn = scenarios.get(scenarioId) ?? {};
      const depth = (replica ? scn.replica_queue?.[replica] : undefined) ?? scn.queue_depth;
      if (depth !== undefined) res.setHeader("x-queue-depth", String(depth));
      if (replica) res.setHeader("x-replica", replica);
      const failing =
        scn.mode === "fail" ||
        (scn.fail_first !== undefined && c.total <= scn.fail_first) ||
        (scn.fail_if_text !== undefined && textOf(body).includes(scn.fail_if_text));
      if (failing) {
        const code = scn.status ?? 500;
        if (scn.retry_after !== undefined) res.setHeader("retry-after", scn.retry_after);
        return json(res, code, { error: { message: `scenario ${scenarioId} fails with ${code}`, type: "fake_error", param: null, code: code === 429 ? "rate_limit_exceeded" : "server_error" } });
      }
      if (scn.mode === "stall") return; // never answers; the gateway's deadline must act
      if (scn.mode === "delay") await new Promise((r) => setTimeout(r, scn.delay_ms ?? 100));
      if (res.destroyed) return;
      if (scn.stream_words !== undefined) slow = scn;
    }
    if (operation === "embeddings") return embeddingsAnswer(res, body);
    if (operation === "completions") return completionsAnswer(res, body);
    if (model === "fake-ctx-small") {
      return json(res, 400, { error: { message: "This model's maximum context length is 16 tokens.", type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } });
    }
    if (model === "fake-policy") {
      return json(res, 400, { error: { message: "Your request was rejected by the safety system.", type: "invalid_request_error", param: null, code: "content_policy_violation" } });
    }
    const status = /^fake-status-(\d{3})$/.exec(model);
    if (status) {
      const code = Number(status[1]);
      if (code === 429) res.setHeader("retry-after", "7");
      return json(res, code, { error: { message: `fake upstream says ${code}`, type: "fake_error", param: null, code: "fake" } });
    }
    switch (model) {
      case "fake-redirect": {
        // 307 keeps the method and body: a gateway that followed it would repeat the request,
        // credential headers and all, to the capture server.
        capture ??= await startCapture();
        res.writeHead(307, { location: `${capture.url}/v1/chat/completions` });
        return void res.end();
      }
      case "fake-garbage":
        res.writeHead(200, { "content-type": "text/plain" });
        return void res.end("this is not json");
      case "fake-wrong-shape":
        return json(res, 200, { hello: "world" });
      case "fake-huge-body":
      case "fake-huge-length": {
        const filler = "x".repeat(17 * 1024 * 1024);
        const text = JSON.stringify(completion(model, filler));
        res.writeHead(200, { "content-type": "application/json", ...(model === "fake-huge-length" ? { "content-length": String(Buffer.byteLength(text)) } : {}) });
        return void res.end(text);
      }
      case "fake-endless-event":
      case "fake-endless-late":
        res.writeHead(200, { "content-type": "text/event-stream" });
        if (model === "fake-endless-late") res.write(`data: ${JSON.stringify({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] })}\n\n`);
        res.write('data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"');
        return endless(res);
      case "fake-huge-stream": {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const piece = "y".repeat(512 * 1024);
        for (let i = 0; i < 34 && !res.destroyed; i++) {
          const chunk = { id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] };
          if (!res.write(`data: ${JSON.stringify(chunk)}\n\n`)) await new Promise((r) => res.once("drain", r));
        }
        return void res.end("data: [DONE]\n\n");
      }
      case "fake-slow": {
        const timer = setTimeout(() => json(res, 200, completion(model, "late")), 30_000);
        res.on("close", () => clearTimeout(timer));
        return;
      }
    }

    const words = slow ? Array.from({ length: slow.stream_words ?? 0 }, (_, i) => ` ${slow?.stream_word ?? "word"}${i + 1}`) : [];
    const text = `echo: ${lastUserText(body.messages as Message[])}${words.join("")}`;
    if (!stream) {
      return json(res, 200, model === "fake-tools" ? toolCompletion(model) : completion(model, text));
    }

    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const send = (payload: unknown) => res.write(`data: ${JSON.stringify(payload)}\n\n`);
    const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
      send({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }] });

    chunk({ role: "assistant", content: "" });
    if (model === "fake-stall") return; // keep the connection open, send nothing more
    if (model === "fake-reset") {
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    if (model === "fake-gated") {
      // Flush a comment too: the relay must forward it and the chunk before the gate opens.
      res.write(": gate closed\n\n");
      await new Promise<void>((resolve) => {
        if (released.has(requestId)) return resolve();
        gates.set(requestId, resolve);
        res.on("close", () => resolve());
      });
      if (res.destroyed) return;
    }
    if (model === "fake-tools") {
      const call = { index: 0, id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: "" } };
      chunk({ tool_calls: [call] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] });
      chunk({}, "tool_calls");
    } else if (slow) {
      const pieces = ["echo", ": ", lastUserText(body.messages as Message[]), ...words];
      for (let i = 0; i < pieces.length; i++) {
        if (slow.stream_fail_after !== undefined && i >= slow.stream_fail_after) return void res.socket?.destroy();
        if (i > 0) await new Promise((r) => setTimeout(r, slow?.stream_every_ms ?? 100));
        if (res.destroyed) return;
        chunk({ content: pieces[i] });
      }
      chunk({}, "stop");
    } else {
      for (const piece of ["echo", ": ", text.slice("echo: ".length)]) chunk({ content: piece });
      chunk({}, "stop");
    }
    if (includeUsage) {
      send({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [], usage: usage() });
    }
    res.end("data: [DONE]\n\n");
  }

  // Answers everything with a chat completion and records which credential came with it.
  async function startCapture(): Promise<{ server: ReturnType<typeof createServer>; url: string }> {
    const cap = createServer((req, res) => {
      captured.push({ path: req.url ?? "", authorization: header(req, "authorization"), apiKey: header(req, "x-api-key") });
      req.resume();
      req.on("end", () => json(res, 200, completion("captured", "captured")));
    });
    await new Promise<void>((resolve) => cap.listen(0, "127.0.0.1", resolve));
    return { server: cap, url: `http://127.0.0.1:${(cap.address() as AddressInfo).port}` };
  }

  // workerd reuses idle connections: Node closing one after its default 5 s races a request just
  // sent on it ("Network connection lost", then the breaker pauses the caller) on a loaded machine.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const open of gates.values()) open();
        capture?.server.closeAllConnections();
        capture?.server.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// Writes 64 KiB pieces of one never-ending value, with backpressure, until the reader goes away.
async function endless(res: ServerResponse): Promise<void> {
  const piece = "z".repeat(64 * 1024);
  while (!res.destroyed) {
    if (!res.write(piece)) await new Promise((r) => { res.once("drain", r); res.once("close", r); });
  }
}

function usage() {
  return { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 };
}

function completion(model: string, content: string) {
  return {
    id: "chatcmpl-fake",
    object: "chat.completion",
    created: 1_700_000_000,
    model,
    system_fingerprint: "fp_fake",
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: "stop" }],
    usage: usage(),
  };
}

function toolCompletion(model: string) {
  return {
    ...completion(model, ""),
    choices: [
      {
        index: 0,
        message: {
          role: "assistant",
          content: null,
          tool_calls: [{ id: "call_fake_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
        },
        logprobs: null,
        finish_reason: "tool_calls",
      },
    ],
  };
}

const OPERATIONS: Record<string, "chat" | "embeddings" | "completions"> = {
  "/v1/chat/completions": "chat",
  "/v1/embeddings": "embeddings",
  "/v1/completions": "completions",
};

// The text a scenario's fail_if_text looks in: the last user message, the prompt, or the inputs.
function textOf(body: Record<string, unknown>): string {
  if (Array.isArray(body.messages)) return lastUserText(body.messages as Message[]);
  const value = body.prompt ?? body.input;
  return typeof value === "string" ? value : JSON.stringify(value ?? "");
}

function lastUserText(messages: Message[]): string {
  const last = [...messages].reverse().find((m) => m.role === "user");
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  if (Array.isArray(last.content)) {
    return last.content
      .map((p: { type?: string; text?: string }) => (p.type === "text" ? p.text : ""))
      .join("");
  }
  return "";
}


// `node test/fakes/openai-upstream.ts [port]`: serves in its own process and prints its URL
// (benchmarks run it apart from the load generator, as a real upstream would be).
if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeUpstream(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
