// A local fake of the Slack Web API (https://api.slack.com/methods/chat.postMessage), following
// its documented contract: POST /api/chat.postMessage (or /chat.postMessage) with
// `Authorization: Bearer xoxb-...` and a JSON body {channel, text, thread_ts?}; answers HTTP 200
// {ok:true, channel, ts, message} or HTTP 200 {ok:false, error} (invalid_auth, not_authed,
// channel_not_found, no_text, msg_too_long), and rate limiting as HTTP 429 with Retry-After
// (seconds) and {ok:false, error:"ratelimited"}.
// chat.update (https://api.slack.com/methods/chat.update) {channel, ts, text} replaces the text of
// a message this token posted into that channel (else {ok:false, error:"message_not_found"});
// answers {ok:true, channel, ts, text}. An update to the same text is a success, as at Slack.
// It records every accepted message per bot token and can misbehave on request:
//   POST /control/<token>/fail {kind:"429"|"500"|"error", times, retry_after?, error?}
//        the next `times` calls (chat.postMessage or chat.update) get that answer (429 +
//        Retry-After; HTTP 500; or HTTP 200 {ok:false, error})
//   GET  /control/<token>/sent      every accepted message, in arrival order
//   GET  /control/<token>/calls     how many chat.postMessage calls arrived (accepted or not)
//   GET  /control/<token>/updates   every accepted chat.update, in arrival order
//   GET  /control/<token>/rejected  every 429 answered ({method, at})
//   POST /control/<token>/reset     forget messages and failures
// Tokens the fake knows: any token starting with "xoxb-" (anything else is invalid_auth).
// Run alone for end-to-end tests: `node test/fakes/slack.ts <port>`.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface SlackSentMessage {
  channel: string;
  text: string;
  ts: string;
  thread_ts: string | null;
  at: number;
}

export interface SlackUpdate {
  channel: string;
  ts: string;
  text: string;
  at: number;
}

interface Failure {
  kind: "429" | "500" | "error";
  times: number;
  retry_after: number;
  error: string;
}

export interface FakeSlack {
  url: string;
  close(): Promise<void>;
}

// Slack's documented limit for chat.postMessage text.
const MAX_TEXT = 40_000;

export async function startFakeSlack(port = 0): Promise<FakeSlack> {
  const sent = new Map<string, SlackSentMessage[]>();
  const calls = new Map<string, number>();
  const failures = new Map<string, Failure>();
  const updates = new Map<string, SlackUpdate[]>();
  const rejected = new Map<string, { method: string; at: number }[]>();
  // The messages each token posted (token|channel|ts), which chat.update may edit.
  const posted = new Set<string>();
  let seq = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { ok: false, error: String(err) }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const control = /^\/control\/([^/]+)\/(fail|sent|calls|reset|updates|rejected)$/.exec(url.pathname);
    if (control) {
      const token = decodeURIComponent(control[1] as string);
      if (control[2] === "sent") return json(res, 200, sent.get(token) ?? []);
      if (control[2] === "calls") return json(res, 200, { calls: calls.get(token) ?? 0 });
      if (control[2] === "updates") return json(res, 200, updates.get(token) ?? []);
      if (control[2] === "rejected") return json(res, 200, rejected.get(token) ?? []);
      if (control[2] === "reset") {
        sent.delete(token);
        failures.delete(token);
        calls.delete(token);
        updates.delete(token);
        rejected.delete(token);
        return json(res, 200, { ok: true });
      }
      const body = JSON.parse(await readBody(req)) as Partial<Failure>;
      failures.set(token, { kind: body.kind ?? "429", times: body.times ?? 1, retry_after: body.retry_after ?? 1, error: body.error ?? "channel_not_found" });
      return json(res, 200, { ok: true });
    }
    const method = /^(?:\/api)?\/chat\.(postMessage|update)$/.exec(url.pathname)?.[1];
    if (!method) return json(res, 404, { ok: false, error: "unknown_method" });
    if (req.method !== "POST") return json(res, 405, { ok: false, error: "method_not_allowed" });
    const auth = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const raw = await readBody(req);
    if (!auth) return json(res, 200, { ok: false, error: "not_authed" });
    const token = auth[1] as string;
    if (!token.startsWith("xoxb-")) return json(res, 200, { ok: false, error: "invalid_auth" });
    if (method === "postMessage") calls.set(token, (calls.get(token) ?? 0) + 1);
    const failure = failures.get(token);
    if (failure && failure.times > 0) {
      failure.times--;
      if (failure.kind === "429") {
        const list = rejected.get(token) ?? [];
        list.push({ method: `chat.${method}`, at: Date.now() });
        rejected.set(token, list);
        res.writeHead(429, { "content-type": "application/json", "retry-after": String(failure.retry_after) });
        return void res.end(JSON.stringify({ ok: false, error: "ratelimited" }));
      }
      if (failure.kind === "500") return json(res, 500, { ok: false, error: "internal_error" });
      return json(res, 200, { ok: false, error: failure.error });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return json(res, 200, { ok: false, error: "invalid_json" });
    }
    if (!String(req.headers["content-type"] ?? "").startsWith("application/json")) return json(res, 200, { ok: false, error: "invalid_form_data" });
    if (typeof body.channel !== "string" || body.channel.length === 0) return json(res, 200, { ok: false, error: "channel_not_found" });
    if (typeof body.text !== "string" || body.text.length === 0) return json(res, 200, { ok: false, error: "no_text" });
    if (body.text.length > MAX_TEXT) return json(res, 200, { ok: false, error: "msg_too_long" });
    if (method === "update") {
      if (typeof body.ts !== "string" || !posted.has(`${token}|${body.channel}|${body.ts}`)) return json(res, 200, { ok: false, error: "message_not_found" });
      const list = updates.get(token) ?? [];
      list.push({ channel: body.channel, ts: body.ts, text: body.text, at: Date.now() });
      updates.set(token, list);
      return json(res, 200, { ok: true, channel: body.channel, ts: body.ts, text: body.text, message: { type: "message", text: body.text, ts: body.ts } });
    }
    const ts = `${Math.floor(Date.now() / 1000)}.${String(++seq).padStart(6, "0")}`;
    const threadTs = typeof body.thread_ts === "string" ? body.thread_ts : null;
    const list = sent.get(token) ?? [];
    list.push({ channel: body.channel, text: body.text, ts, thread_ts: threadTs, at: Date.now() });
    sent.set(token, list);
    posted.add(`${token}|${body.channel}|${ts}`);
    return json(res, 200, { ok: true, channel: body.channel, ts, message: { type: "message", text: body.text, ts, ...(threadTs ? { thread_ts: threadTs } : {}) } });
  }

  return listenFake(server, port);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeSlack(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
