// A local fake of an OpenAI-compatible upstream (POST /v1/chat/completions), following OpenAI's
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
//   fake-status-<code>   answers that HTTP status with an OpenAI error body (429: Retry-After: 7)
//   fake-garbage         200 with a body that is not JSON
//   fake-wrong-shape     200 with JSON that is not a chat completion
// Every request is recorded (headers that matter, body) under its x-request-id:
// GET /control/requests/<x-request-id>.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  authorization: string | null;
  accept: string | null;
  body: Record<string, unknown>;
}

export interface FakeUpstream {
  url: string;
  close(): Promise<void>;
}

type Message = { role: string; content?: unknown };

export async function startFakeUpstream(port = 0): Promise<FakeUpstream> {
  const recorded = new Map<string, RecordedRequest>();
  const gates = new Map<string, () => void>();
  const released = new Set<string>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { error: { message: String(err), type: "server_error", param: null, code: null } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
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
    if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") {
      return json(res, 404, { error: { message: "Not found", type: "invalid_request_error", param: null, code: null } });
    }

    const body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    const requestId = header(req, "x-request-id") ?? `anon-${recorded.size}`;
    recorded.set(requestId, { authorization: header(req, "authorization"), accept: header(req, "accept"), body });

    const model = String(body.model);
    const stream = body.stream === true;
    const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const status = /^fake-status-(\d{3})$/.exec(model);
    if (status) {
      const code = Number(status[1]);
      if (code === 429) res.setHeader("retry-after", "7");
      return json(res, code, { error: { message: `fake upstream says ${code}`, type: "fake_error", param: null, code: "fake" } });
    }
    switch (model) {
      case "fake-garbage":
        res.writeHead(200, { "content-type": "text/plain" });
        return void res.end("this is not json");
      case "fake-wrong-shape":
        return json(res, 200, { hello: "world" });
      case "fake-slow": {
        const timer = setTimeout(() => json(res, 200, completion(model, "late")), 30_000);
        res.on("close", () => clearTimeout(timer));
        return;
      }
    }

    const text = `echo: ${lastUserText(body.messages as Message[])}`;
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
    } else {
      for (const piece of ["echo", ": ", text.slice("echo: ".length)]) chunk({ content: piece });
      chunk({}, "stop");
    }
    if (includeUsage) {
      send({ id: "chatcmpl-fake", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [], usage: usage() });
    }
    res.end("data: [DONE]\n\n");
  }

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const open of gates.values()) open();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
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
