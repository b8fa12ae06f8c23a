// A local fake of the Telegram Bot API (https://core.telegram.org/bots/api), following its
// documented contract: POST /bot<token>/<method> with a JSON body; answers
// {ok:true,result:...} or {ok:false,error_code,description[,parameters:{retry_after}]}.
// It records every sendMessage and editMessageText per bot token and can misbehave on request:
//   POST /control/<token>/fail {kind:"429"|"500"|"stall", times, retry_after?}
//        the next `times` sends get that answer (429 with parameters.retry_after seconds; 500;
//        or a stall: the request is held until the client gives up); also "huge": a 200 whose body
//        streams 4 MiB with no content-length (a hostile api_base_url), and "long_error": a 400
//        whose description is 20,000 characters
//   ANY  /huge/...   that same 4 MiB streamed answer for any path (a hostile base URL for any platform)
//   POST /control/<token>/limit {per_second}   a bot-wide limit like Telegram's (~30 messages/s
//        across all chats of one bot): a send that would make more than `per_second` accepted
//        sends within the last second is answered 429 with parameters.retry_after (seconds).
//        Per bot token and off until set, so other tests' bots are unaffected
//   GET  /control/<token>/rejected  every 429 answered ({chat_id, at, cause: "fail"|"limit"})
//   POST /control/<token>/block {chat_id}   the user blocked the bot: sends to that chat get
//        Telegram's 403 "Forbidden: bot was blocked by the user" (not worth retrying)
//   GET  /control/<token>/sent      every recorded call, in arrival order
//   POST /control/<token>/delete {chat_id, message_id}   the user deleted that message: edits of
//        it get 400 "message to edit not found"
//   GET  /control/<token>/unmodified   every editMessageText refused as "message is not
//        modified" ({chat_id, message_id, at})
// editMessageText {chat_id, message_id, text} edits a message this bot sent into that chat (else
// 400 "message to edit not found"); an edit to the text the message already has is refused with
// 400 "Bad Request: message is not modified: ..." exactly as the Bot API does.
//   POST /control/<token>/reset     forget calls, failures, the limit and rejections
// It also stands in for an inbound-hook caller's callback URL: POST /callbacks/<name> is
// recorded and listed by GET /control/callbacks/<name>.
// Run alone for end-to-end tests and the bench: `node test/fakes/telegram.ts <port>`.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface SentMessage {
  method: "sendMessage" | "editMessageText";
  chat_id: string;
  text: string;
  message_id: number;
  reply_to: number | null;
  thread_id: number | null;
  at: number;
}

interface Failure {
  kind: "429" | "500" | "stall" | "huge" | "long_error";
  times: number;
  retry_after: number;
}

export interface Rejected {
  chat_id: string;
  at: number;
  cause: "fail" | "limit";
}

export interface FakeTelegram {
  url: string;
  close(): Promise<void>;
}

// 4 MiB of a JSON-looking answer in 64 KiB chunks, chunked (no content-length), each chunk
// written only once the previous one drained, so a client that stops reading stops the stream.
const HUGE_BYTES = 4 * 1024 * 1024;
function streamHuge(res: ServerResponse): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.write('{"ok":true,"result":{"message_id":1,"pad":"');
  const chunk = "x".repeat(64 * 1024);
  let sent = 0;
  const next = (): void => {
    while (sent < HUGE_BYTES && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", next);
    }
    if (!res.destroyed) res.end('"}}');
  };
  res.on("error", () => {});
  next();
}

export async function startFakeTelegram(port = 0): Promise<FakeTelegram> {
  const sent = new Map<string, SentMessage[]>();
  const failures = new Map<string, Failure>();
  const stalled = new Set<ServerResponse>();
  const callbacks = new Map<string, unknown[]>();
  const blocked = new Set<string>();
  // Bot-wide limits (messages per second) and the times of each bot's accepted sends in the last second.
  const limits = new Map<string, number>();
  const recent = new Map<string, number[]>();
  const rejected = new Map<string, Rejected[]>();
  function reject(token: string, chatId: unknown, cause: Rejected["cause"]): void {
    const list = rejected.get(token) ?? [];
    list.push({ chat_id: String(chatId), at: Date.now(), cause });
    rejected.set(token, list);
  }
  let nextMessageId = 1000;
  // The current text of each message (token|chat|message id), for edits; stored trimmed since
  // Telegram strips a message's surrounding whitespace and compares what it would show.
  const texts = new Map<string, string>();
  const unmodified = new Map<string, { chat_id: string; message_id: number; at: number }[]>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { ok: false, error_code: 500, description: String(err) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    // A callback URL that redirects (307 keeps the POST) to the recorded one: the gateway must
    // not follow it.
    const redirect = /^\/redirect\/([^/]+)$/.exec(url.pathname);
    if (redirect) {
      res.writeHead(307, { location: `/callbacks/${redirect[1]}` });
      return void res.end();
    }
    const hookCallback = /^\/(control\/)?callbacks\/([^/]+)$/.exec(url.pathname);
    if (hookCallback) {
      const name = decodeURIComponent(hookCallback[2] as string);
      if (hookCallback[1]) return json(res, 200, callbacks.get(name) ?? []);
      const list = callbacks.get(name) ?? [];
      // The raw body and the signature headers too, so a test can verify a signed webhook itself.
      const raw = await readBody(req);
      list.push({
        body: JSON.parse(raw) as unknown,
        raw,
        idempotency_key: req.headers["idempotency-key"] ?? null,
        timestamp: req.headers["x-edgeclaw-timestamp"] ?? null,
        signature: req.headers["x-edgeclaw-signature"] ?? null,
        traceparent: req.headers["traceparent"] ?? null,
      });
      callbacks.set(name, list);
      return json(res, 200, { ok: true });
    }
    const control = /^\/control\/([^/]+)\/(fail|sent|reset|block|limit|rejected|unmodified|delete)$/.exec(url.pathname);
    if (control) {
      const token = decodeURIComponent(control[1] as string);
      if (control[2] === "sent") return json(res, 200, sent.get(token) ?? []);
      if (control[2] === "rejected") return json(res, 200, rejected.get(token) ?? []);
      if (control[2] === "unmodified") return json(res, 200, unmodified.get(token) ?? []);
      if (control[2] === "reset") {
        sent.delete(token);
        failures.delete(token);
        limits.delete(token);
        recent.delete(token);
        rejected.delete(token);
        unmodified.delete(token);
        return json(res, 200, { ok: true });
      }
      if (control[2] === "limit") {
        const { per_second } = JSON.parse(await readBody(req)) as { per_second: number };
        limits.set(token, per_second);
        return json(res, 200, { ok: true });
      }
      if (control[2] === "delete") {
        const { chat_id, message_id } = JSON.parse(await readBody(req)) as { chat_id: string | number; message_id: number };
        texts.delete(`${token}|${chat_id}|${message_id}`);
        return json(res, 200, { ok: true });
      }
      if (control[2] === "block") {
        const { chat_id } = JSON.parse(await readBody(req)) as { chat_id: string | number };
        blocked.add(`${token}|${chat_id}`);
        return json(res, 200, { ok: true });
      }
      const body = JSON.parse(await readBody(req)) as Partial<Failure>;
      failures.set(token, { kind: body.kind ?? "429", times: body.times ?? 1, retry_after: body.retry_after ?? 1 });
      return json(res, 200, { ok: true });
    }
    if (url.pathname.startsWith("/huge/")) {
      await readBody(req);
      return streamHuge(res);
    }
    const call = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!call || req.method !== "POST") return json(res, 404, { ok: false, error_code: 404, description: "Not Found" });
    const token = decodeURIComponent(call[1] as string);
    const method = call[2] as string;
    const body = JSON.parse((await readBody(req)) || "{}") as Record<string, unknown>;
    if (method === "getMe") return json(res, 200, { ok: true, result: { id: 1, is_bot: true, first_name: "Fake", username: "fake_bot" } });
    if (method === "setWebhook") return json(res, 200, { ok: true, result: true, description: "Webhook was set" });
    if (method !== "sendMessage" && method !== "editMessageText") {
      return json(res, 404, { ok: false, error_code: 404, description: "Not Found: method not found" });
    }
    const failure = failures.get(token);
    if (failure && failure.times > 0) {
      failure.times--;
      if (failure.kind === "429") {
        reject(token, body.chat_id, "fail");
        return json(res, 429, {
          ok: false,
          error_code: 429,
          description: `Too Many Requests: retry after ${failure.retry_after}`,
          parameters: { retry_after: failure.retry_after },
        });
      }
      if (failure.kind === "500") return json(res, 500, { ok: false, error_code: 500, description: "Internal Server Error" });
      if (failure.kind === "huge") return streamHuge(res);
      if (failure.kind === "long_error") return json(res, 400, { ok: false, error_code: 400, description: `Bad Request: ${"x".repeat(20_000)}` });
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return;
    }
    if (blocked.has(`${token}|${String(body.chat_id)}`)) {
      return json(res, 403, { ok: false, error_code: 403, description: "Forbidden: bot was blocked by the user" });
    }
    if (typeof body.text !== "string" || body.text.length === 0) {
      return json(res, 400, { ok: false, error_code: 400, description: "Bad Request: message text is empty" });
    }
    if (body.text.length > 4096) return json(res, 400, { ok: false, error_code: 400, description: "Bad Request: message is too long" });
    const editKey = `${token}|${String(body.chat_id)}|${Number(body.message_id)}`;
    if (method === "editMessageText") {
      const current = texts.get(editKey);
      if (current === undefined) return json(res, 400, { ok: false, error_code: 400, description: "Bad Request: message to edit not found" });
      if (current === body.text.trim()) {
        const list = unmodified.get(token) ?? [];
        list.push({ chat_id: String(body.chat_id), message_id: Number(body.message_id), at: Date.now() });
        unmodified.set(token, list);
        return json(res, 400, {
          ok: false,
          error_code: 400,
          description: "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
        });
      }
    }
    const perSecond = limits.get(token);
    if (perSecond !== undefined) {
      const now = Date.now();
      const window = (recent.get(token) ?? []).filter((t) => t > now - 1000);
      recent.set(token, window);
      if (window.length >= perSecond) {
        reject(token, body.chat_id, "limit");
        const retryAfter = Math.max(1, Math.ceil(((window[0] as number) + 1000 - now) / 1000));
        return json(res, 429, { ok: false, error_code: 429, description: `Too Many Requests: retry after ${retryAfter}`, parameters: { retry_after: retryAfter } });
      }
      window.push(now);
    }
    const replyTo = (body.reply_parameters as { message_id?: number } | undefined)?.message_id ?? null;
    const messageId = method === "editMessageText" ? Number(body.message_id) : nextMessageId++;
    const list = sent.get(token) ?? [];
    list.push({
      method,
      chat_id: String(body.chat_id),
      text: body.text,
      message_id: messageId,
      reply_to: replyTo,
      thread_id: typeof body.message_thread_id === "number" ? body.message_thread_id : null,
      at: Date.now(),
    });
    sent.set(token, list);
    texts.set(`${token}|${String(body.chat_id)}|${messageId}`, body.text.trim());
    return json(res, 200, { ok: true, result: { message_id: messageId, chat: { id: Number(body.chat_id) }, date: Math.floor(Date.now() / 1000), text: body.text } });
  }

  return listenFake(server, port, stalled);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeTelegram(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
