// A local fake of the LINE Messaging API (https://developers.line.biz/en/reference/messaging-api/),
// following its documented contract:
//   POST /v2/bot/message/reply  {replyToken, messages[1..5]}: a reply token is single use and
//        expires (LINE: about a minute; here reply_token_ttl_ms, default 60 s): an unknown, used
//        or expired one answers 400 {"message":"Invalid reply token"}. An X-Line-Retry-Key on a
//        reply is refused with 400, as at LINE (only push and friends take one)
//   POST /v2/bot/message/push   {to, messages[1..5]} with an optional X-Line-Retry-Key (a UUID in
//        hex): the first request with a key is executed and remembered; the same key again
//        answers 409 {"message":"The retry key is already accepted"} with the first request's id
//        in x-line-accepted-request-id, and sends nothing
//   GET  /v2/bot/info           the bot's userId, basicId and displayName
// Success answers 200 {sentMessages:[{id, quoteToken}]} with an x-line-request-id header; every
// call needs `Authorization: Bearer <channel access token>` (401 otherwise); a text object holds
// 1-5,000 characters (400 with details otherwise). Rate limiting is 429
// {"message":"The API rate limit has been exceeded. Try again later."} without Retry-After, as at
// LINE. Tokens the fake knows: any starting with "lct-".
// It records every delivered message per access token and can misbehave on request:
//   POST /control/<token>/reply-token {to, replyToken?}  issues a reply token for that chat (the
//        given one, e.g. one already written into a webhook body, else a fresh one): {replyToken}
//   POST /control/<token>/config {reply_token_ttl_ms}
//   POST /control/<token>/fail {kind, times}  the next `times` reply/push calls get: "429",
//        "monthly" (429 "You have reached your monthly limit."), "500", "stall" (never answered),
//        "drop" (executed and recorded, then the connection is cut before any answer: a
//        lost answer, as when the sender crashes mid-send), "hold" (push calls only: executed and
//        recorded, then never answered while the sender keeps the connection: a sender killed
//        mid-push; reply calls pass untouched), or "status" (that `status` with
//        {message} as LINE words its errors, e.g. 403 or a 400 the API never retries)
//   GET  /control/<token>/sent      every delivered message in order: {to, text, via, id, requestId, retryKey, at}
//   GET  /control/<token>/calls     {reply, push, refused429, conflicts, invalidReplyTokens, held}
//   POST /control/<token>/reset     forget everything of that token
// Run alone for end-to-end tests: `node test/fakes/line.ts <port>`.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface LineSentMessage {
  to: string;
  text: string;
  via: "reply" | "push";
  id: string;
  // The x-line-request-id of the request that delivered it (what a 409 names as accepted).
  requestId: string;
  retryKey: string | null;
  at: number;
}

export interface LineCalls {
  reply: number;
  push: number;
  refused429: number;
  conflicts: number;
  invalidReplyTokens: number;
  // Pushes executed and then left unanswered by a "hold" failure.
  held: number;
}

interface Failure {
  kind: "429" | "monthly" | "500" | "stall" | "drop" | "hold" | "status";
  times: number;
  status: number;
  message: string;
}

interface Channel {
  sent: LineSentMessage[];
  calls: LineCalls;
  failure: Failure | null;
  ttlMs: number;
  // reply token -> the chat it answers and when it was issued; deleted when used
  replyTokens: Map<string, { to: string; issuedAt: number }>;
  // retry key -> the request id that executed it
  retryKeys: Map<string, string>;
}

export interface FakeLine {
  url: string;
  close(): Promise<void>;
}

const MAX_TEXT = 5_000;
const RETRY_KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function botUserId(token: string): string {
  return `U${createHash("sha256").update(token).digest("hex").slice(0, 32)}`;
}

function messageId(): string {
  return String(BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000)));
}

export async function startFakeLine(port = 0): Promise<FakeLine> {
  const channels = new Map<string, Channel>();
  const stalled = new Set<ServerResponse>();

  function channelOf(token: string): Channel {
    let c = channels.get(token);
    if (!c) {
      c = { sent: [], calls: { reply: 0, push: 0, refused429: 0, conflicts: 0, invalidReplyTokens: 0, held: 0 }, failure: null, ttlMs: 60_000, replyTokens: new Map(), retryKeys: new Map() };
      channels.set(token, c);
    }
    return c;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { message: String(err) }));
  });

  function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json", "x-line-request-id": randomUUID(), ...headers });
    res.end(JSON.stringify(body));
  }

  async function control(token: string, action: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const c = channelOf(token);
    const raw = req.method === "POST" ? await readBody(req) : "";
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (action === "sent") return json(res, 200, c.sent);
    if (action === "calls") return json(res, 200, c.calls);
    if (action === "reset") {
      channels.delete(token);
      return json(res, 200, { ok: true });
    }
    if (action === "config") {
      if (typeof body.reply_token_ttl_ms === "number") c.ttlMs = body.reply_token_ttl_ms;
      return json(res, 200, { ok: true });
    }
    if (action === "reply-token") {
      const replyToken = typeof body.replyToken === "string" && /^[0-9a-f]{32}$/.test(body.replyToken) ? body.replyToken : randomUUID().replace(/-/g, "");
      c.replyTokens.set(replyToken, { to: String(body.to), issuedAt: Date.now() });
      return json(res, 200, { replyToken });
    }
    if (action === "fail") {
      c.failure = {
        kind: (body.kind as Failure["kind"]) ?? "429",
        times: typeof body.times === "number" ? body.times : 1,
        status: typeof body.status === "number" ? body.status : 403,
        message: typeof body.message === "string" ? body.message : "Access to this API is not available for your account",
      };
      return json(res, 200, { ok: true });
    }
    return json(res, 404, { message: "Not found" });
  }

  // A failure a test asked for, answered instead of the real thing (true when answered); "drop"
  // and "hold" act after the call is executed, so they are returned for the caller to act on.
  function failed(c: Channel, res: ServerResponse, kind: "reply" | "push"): boolean | "drop" | "hold" {
    const f = c.failure;
    if (!f || f.times <= 0) return false;
    if (f.kind === "hold" && kind !== "push") return false;
    f.times--;
    if (f.kind === "drop" || f.kind === "hold") return f.kind;
    if (f.kind === "stall") {
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return true;
    }
    if (f.kind === "status") {
      answer(res, f.status, { message: f.message });
      return true;
    }
    if (f.kind === "500") {
      answer(res, 500, { message: "An error occurred in the LINE Platform." });
      return true;
    }
    c.calls.refused429++;
    answer(res, 429, { message: f.kind === "monthly" ? "You have reached your monthly limit." : "The API rate limit has been exceeded. Try again later." });
    return true;
  }

  // LINE's validation of the messages array (text objects only, as EdgeClaw sends).
  function invalidMessages(messages: unknown): { message: string; details: { message: string; property: string }[] } | null {
    if (!Array.isArray(messages) || messages.length < 1 || messages.length > 5) {
      return { message: "The request body has 1 error(s)", details: [{ message: "Size must be between 1 and 5", property: "messages" }] };
    }
    for (const [i, m] of messages.entries()) {
      const text = (m as { text?: unknown }).text;
      if ((m as { type?: unknown }).type !== "text" || typeof text !== "string" || text.length < 1 || text.length > MAX_TEXT) {
        return { message: "The request body has 1 error(s)", details: [{ message: "Length must be between 1 and 5000", property: `messages[${i}].text` }] };
      }
    }
    return null;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const ctl = /^\/control\/([^/]+)\/(sent|calls|reset|config|reply-token|fail)$/.exec(url.pathname);
    if (ctl) return control(decodeURIComponent(ctl[1] as string), ctl[2] as string, req, res);
    const raw = await readBody(req);
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const token = auth?.[1];
    if (!token || !token.startsWith("lct-")) return answer(res, 401, { message: "Authentication failed. Confirm that the access token in the authorization header is valid." });
    const c = channelOf(token);
    if (url.pathname === "/v2/bot/info" && req.method === "GET") {
      return answer(res, 200, { userId: botUserId(token), basicId: "@000fake", displayName: "EdgeClaw fake", chatMode: "bot", markAsReadMode: "auto" });
    }
    const kind = /^\/v2\/bot\/message\/(reply|push)$/.exec(url.pathname)?.[1] as "reply" | "push" | undefined;
    if (!kind) return answer(res, 404, { message: "Not found" });
    if (req.method !== "POST") return answer(res, 405, { message: "Method not allowed" });
    c.calls[kind]++;
    const retryKey = typeof req.headers["x-line-retry-key"] === "string" ? req.headers["x-line-retry-key"] : null;
    if (kind === "reply" && retryKey !== null) return answer(res, 400, { message: "The retry key is not supported for this API" });
    if (retryKey !== null && !RETRY_KEY.test(retryKey)) return answer(res, 400, { message: "The value for the 'X-Line-Retry-Key' header is invalid" });
    // A key already executed: nothing is sent again, whatever failure is queued.
    if (retryKey !== null && c.retryKeys.has(retryKey)) {
      c.calls.conflicts++;
      return answer(res, 409, { message: "The retry key is already accepted" }, { "x-line-accepted-request-id": c.retryKeys.get(retryKey) as string });
    }
    const failure = failed(c, res, kind);
    if (failure === true) return;
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return answer(res, 400, { message: "The request body has 1 error(s)" });
    }
    const invalid = invalidMessages(body.messages);
    if (invalid) return answer(res, 400, invalid);
    let to: string;
    if (kind === "reply") {
      const entry = typeof body.replyToken === "string" ? c.replyTokens.get(body.replyToken) : undefined;
      if (!entry || Date.now() - entry.issuedAt > c.ttlMs) {
        c.calls.invalidReplyTokens++;
        if (entry) c.replyTokens.delete(body.replyToken as string);
        return answer(res, 400, { message: "Invalid reply token" });
      }
      c.replyTokens.delete(body.replyToken as string);
      to = entry.to;
    } else {
      if (typeof body.to !== "string" || !/^[UCR][0-9a-f]{32}$/.test(body.to)) return answer(res, 400, { message: "The property, 'to', in the request body is invalid (line: 1, column: 7)" });
      to = body.to;
    }
    const requestId = randomUUID();
    if (retryKey !== null) c.retryKeys.set(retryKey, requestId);
    const sentMessages = (body.messages as { text: string }[]).map((m) => {
      const id = messageId();
      c.sent.push({ to, text: m.text, via: kind, id, requestId, retryKey, at: Date.now() });
      return { id, quoteToken: randomUUID() };
    });
    // Executed, but the answer never arrives.
    if (failure === "drop") return void res.destroy();
    // Executed, and the answer is held until the sender goes away (a crash mid-push).
    if (failure === "hold") {
      c.calls.held++;
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "x-line-request-id": requestId });
    res.end(JSON.stringify({ sentMessages }));
  }

  return listenFake(server, port, stalled);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeLine(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
