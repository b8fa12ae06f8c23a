// A local fake of the Feishu / Lark Open API (https://open.feishu.cn/document/,
// https://open.larksuite.com/document/; one server stands for both hosts), following its
// documented contract:
//   POST /open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret}
//        -> {code:0, msg:"ok", tenant_access_token:"t-...", expire: seconds left}. The app's
//        secret is fakeFeishuSecret(app_id) (a wrong one: code 10014). While the current token
//        has 30 minutes (or half its life) or more left the same token is answered, else a new
//        one; old tokens stay valid until their own expiry, as at Feishu
//   POST /open-apis/im/v1/messages?receive_id_type=chat_id {receive_id, msg_type:"text", content, uuid}
//   POST /open-apis/im/v1/messages/:message_id/reply {msg_type, content, reply_in_thread, uuid}
//        -> {code:0, msg:"success", data:{message_id:"om_...", chat_id, ...}}. A uuid seen within
//        the hour answers the first message again and records nothing new. Reply targets must be
//        messages the fake knows (sent by it, or announced with /control/<app>/inbound)
//   PUT  /open-apis/im/v1/messages/:message_id {msg_type, content}: a text edit of a message the
//        app sent (`edits` counts them), 20 per message: past them HTTP 400 code 230072 ("reached
//        the number of times it can be edited"), counted in calls.refusedEdit
// Every API call needs `Authorization: Bearer <token>`; an unknown or expired token answers
// HTTP 400 {code: 99991663, msg: "Invalid access token for authorization..."}, none 99991661.
// A text message's request body is bounded to 150 KB (code 230025 past it).
// Per app it records every delivered message and can misbehave on request:
//   POST /control/<app_id>/fail {kind, times}  the next `times` message calls get: "rate"
//        (HTTP 429, code 99991400, x-ogw-ratelimit-limit/-reset headers, reset `reset_s`),
//        "rate400" (the same code as HTTP 400, as older gateways answer), "chat-rate" (HTTP 400
//        code 230020), "500", "stall" (never answered), "drop" (executed and recorded, then the
//        connection cut: a lost answer), "invalid-token" (400 code 99991663), or "status" (that
//        `status` and `code` with msg)
//   POST /control/<app_id>/config {expire_s}      lifetime of tokens issued from now (default 7200)
//   POST /control/<app_id>/expire                 every token of the app stops working now
//   POST /control/<app_id>/inbound {message_id, chat_id}  a message a user sent (for /reply)
//   GET  /control/<app_id>/sent   every delivered message in order: {chatId, text, via, id, uuid, replyTo, inThread, at}
//   GET  /control/<app_id>/calls  {token, create, reply, update, refusedRate, refusedChatRate, refusedEdit, invalidToken, deduped}
//   POST /control/<app_id>/reset  forget everything of that app
// Run alone for end-to-end tests: `node test/fakes/feishu.ts <port>`.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface FeishuSentMessage {
  chatId: string;
  text: string;
  via: "create" | "reply";
  id: string;
  uuid: string | null;
  replyTo: string | null;
  inThread: boolean;
  edits: number;
  at: number;
}

export interface FeishuCalls {
  token: number;
  create: number;
  reply: number;
  update: number;
  refusedRate: number;
  refusedChatRate: number;
  refusedEdit: number;
  invalidToken: number;
  deduped: number;
}

type FailureKind = "rate" | "rate400" | "chat-rate" | "500" | "stall" | "drop" | "invalid-token" | "status";

interface Failure {
  kind: FailureKind;
  times: number;
  status: number;
  code: number;
  resetS: number;
}

interface App {
  sent: FeishuSentMessage[];
  calls: FeishuCalls;
  failure: Failure | null;
  expireS: number;
  current: { token: string; expiresAt: number; lifeMs: number } | null;
  // uuid -> the message it created, and when
  uuids: Map<string, { message: FeishuSentMessage; at: number }>;
  // message id -> chat id (sent by the fake or announced as inbound)
  messages: Map<string, string>;
}

export interface FakeFeishu {
  url: string;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 150 * 1024;
const UUID_MEMORY_MS = 3_600_000;
const MAX_EDITS = 20;

// The App Secret the fake accepts for an App ID (tests store it in the tenant's vault).
export function fakeFeishuSecret(appId: string): string {
  return `fs${createHash("sha256").update(`feishu-fake:${appId}`).digest("hex").slice(0, 30)}`;
}

export async function startFakeFeishu(port = 0): Promise<FakeFeishu> {
  const apps = new Map<string, App>();
  // token -> app id and expiry (every token ever issued, until it expires)
  const tokens = new Map<string, { appId: string; expiresAt: number }>();
  const stalled = new Set<ServerResponse>();

  function appOf(appId: string): App {
    let a = apps.get(appId);
    if (!a) {
      a = { sent: [], calls: { token: 0, create: 0, reply: 0, update: 0, refusedRate: 0, refusedChatRate: 0, refusedEdit: 0, invalidToken: 0, deduped: 0 }, failure: null, expireS: 7200, current: null, uuids: new Map(), messages: new Map() };
      apps.set(appId, a);
    }
    return a;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { code: 1, msg: String(err) }));
  });

  function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "x-request-id": randomBytes(8).toString("hex"), ...headers });
    res.end(JSON.stringify(body));
  }

  async function control(appId: string, action: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const a = appOf(appId);
    const raw = req.method === "POST" ? await readBody(req) : "";
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (action === "sent") return json(res, 200, a.sent);
    if (action === "calls") return json(res, 200, a.calls);
    if (action === "reset") {
      apps.delete(appId);
      return json(res, 200, { ok: true });
    }
    if (action === "config") {
      if (typeof body.expire_s === "number") a.expireS = body.expire_s;
      return json(res, 200, { ok: true });
    }
    if (action === "expire") {
      for (const [t, v] of tokens) if (v.appId === appId) tokens.delete(t);
      a.current = null;
      return json(res, 200, { ok: true });
    }
    if (action === "inbound") {
      a.messages.set(String(body.message_id), String(body.chat_id));
      return json(res, 200, { ok: true });
    }
    if (action === "fail") {
      a.failure = {
        kind: (body.kind as FailureKind) ?? "rate",
        times: typeof body.times === "number" ? body.times : 1,
        status: typeof body.status === "number" ? body.status : 400,
        code: typeof body.code === "number" ? body.code : 230002,
        resetS: typeof body.reset_s === "number" ? body.reset_s : 1,
      };
      return json(res, 200, { ok: true });
    }
    return json(res, 404, { code: 404, msg: "not found" });
  }

  function tokenEndpoint(raw: string, res: ServerResponse): void {
    let body: { app_id?: unknown; app_secret?: unknown };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return answer(res, 400, { code: 9499, msg: "Bad Request" });
    }
    if (typeof body.app_id !== "string" || !body.app_id.startsWith("cli_")) return answer(res, 400, { code: 10003, msg: "invalid param" });
    const a = appOf(body.app_id);
    a.calls.token++;
    if (body.app_secret !== fakeFeishuSecret(body.app_id)) return answer(res, 400, { code: 10014, msg: "app secret invalid" });
    const now = Date.now();
    const c = a.current;
    // Feishu: the same token while 30 minutes or more are left (half the life for short test lives).
    if (c && c.expiresAt - now >= Math.min(30 * 60_000, c.lifeMs / 2)) {
      return answer(res, 200, { code: 0, msg: "ok", tenant_access_token: c.token, expire: Math.floor((c.expiresAt - now) / 1000) });
    }
    const token = `t-${randomBytes(20).toString("hex")}`;
    const lifeMs = a.expireS * 1000;
    a.current = { token, expiresAt: now + lifeMs, lifeMs };
    tokens.set(token, { appId: body.app_id, expiresAt: now + lifeMs });
    return answer(res, 200, { code: 0, msg: "ok", tenant_access_token: token, expire: a.expireS });
  }

  // A failure a test asked for, answered instead of the real thing (true when answered); "drop"
  // acts after the call is executed, so it is returned for the caller.
  function failed(a: App, res: ServerResponse): boolean | "drop" {
    const f = a.failure;
    if (!f || f.times <= 0) return false;
    f.times--;
    switch (f.kind) {
      case "drop":
        return "drop";
      case "stall":
        stalled.add(res);
        res.on("close", () => stalled.delete(res));
        return true;
      case "rate":
      case "rate400":
        a.calls.refusedRate++;
        answer(res, f.kind === "rate" ? 429 : 400, { code: 99991400, msg: "request trigger frequency limit" }, { "x-ogw-ratelimit-limit": "50", "x-ogw-ratelimit-reset": String(f.resetS) });
        return true;
      case "chat-rate":
        a.calls.refusedChatRate++;
        answer(res, 400, { code: 230020, msg: "This operation triggers the frequency limit." });
        return true;
      case "invalid-token":
        a.calls.invalidToken++;
        answer(res, 400, { code: 99991663, msg: "Invalid access token for authorization. Please make a request with token attached." });
        return true;
      case "500":
        answer(res, 500, { code: 1, msg: "internal error" });
        return true;
      default:
        answer(res, f.status, { code: f.code, msg: "refused by the fake" });
        return true;
    }
  }

  function messageData(m: FeishuSentMessage) {
    return { message_id: m.id, chat_id: m.chatId, msg_type: "text", body: { content: JSON.stringify({ text: m.text }) }, create_time: String(m.at), ...(m.replyTo ? { parent_id: m.replyTo, root_id: m.replyTo } : {}) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const ctl = /^\/control\/([^/]+)\/(sent|calls|reset|config|expire|inbound|fail)$/.exec(url.pathname);
    if (ctl) return control(decodeURIComponent(ctl[1] as string), ctl[2] as string, req, res);
    const raw = await readBody(req);
    if (url.pathname === "/open-apis/auth/v3/tenant_access_token/internal" && req.method === "POST") return tokenEndpoint(raw, res);
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!bearer) return answer(res, 400, { code: 99991661, msg: "Missing access token for authorization. Please make a request with token attached." });
    const entry = tokens.get(bearer);
    if (!entry || entry.expiresAt <= Date.now()) return answer(res, 400, { code: 99991663, msg: "Invalid access token for authorization. Please make a request with token attached." });
    const a = appOf(entry.appId);
    const create = url.pathname === "/open-apis/im/v1/messages" && req.method === "POST";
    const replyTo = req.method === "POST" ? /^\/open-apis\/im\/v1\/messages\/(om_[A-Za-z0-9_-]+)\/reply$/.exec(url.pathname)?.[1] : undefined;
    const updateOf = req.method === "PUT" ? /^\/open-apis\/im\/v1\/messages\/(om_[A-Za-z0-9_-]+)$/.exec(url.pathname)?.[1] : undefined;
    if (!create && !replyTo && !updateOf) return answer(res, 404, { code: 404, msg: "404 page not found" });
    if (create) a.calls.create++;
    else if (replyTo) a.calls.reply++;
    else a.calls.update++;
    if (Buffer.byteLength(raw) > MAX_BODY_BYTES) return answer(res, 400, { code: 230025, msg: "The length of the message content reaches its limit." });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return answer(res, 400, { code: 9499, msg: "Bad Request" });
    }
    if (body.msg_type !== "text" || typeof body.content !== "string") return answer(res, 400, { code: 230001, msg: "invalid msg_type or content" });
    let text: unknown;
    try {
      text = (JSON.parse(body.content) as { text?: unknown }).text;
    } catch {
      return answer(res, 400, { code: 230001, msg: "content is not JSON" });
    }
    if (typeof text !== "string" || text.length === 0) return answer(res, 400, { code: 230001, msg: "text is empty" });
    const uuid = typeof body.uuid === "string" ? body.uuid : null;
    if (uuid !== null && (uuid.length > 50 || uuid.length === 0)) return answer(res, 400, { code: 230001, msg: "uuid exceeds 50 characters" });
    // A uuid executed within the hour: the first message again, nothing new.
    const seen = uuid !== null ? a.uuids.get(uuid) : undefined;
    if (seen && Date.now() - seen.at < UUID_MEMORY_MS && !updateOf) {
      a.calls.deduped++;
      return answer(res, 200, { code: 0, msg: "success", data: messageData(seen.message) });
    }
    const failure = failed(a, res);
    if (failure === true) return;
    if (updateOf) {
      const m = a.sent.find((x) => x.id === updateOf);
      if (!m) return answer(res, 400, { code: 230001, msg: "message not found" });
      if (m.edits >= MAX_EDITS) {
        a.calls.refusedEdit++;
        return answer(res, 400, { code: 230072, msg: "The message has reached the number of times it can be edited." });
      }
      m.edits++;
      m.text = text;
      return answer(res, 200, { code: 0, msg: "success", data: messageData(m) });
    }
    let chatId: string;
    if (create) {
      if (url.searchParams.get("receive_id_type") !== "chat_id") return answer(res, 400, { code: 230001, msg: "receive_id_type must be chat_id here" });
      if (typeof body.receive_id !== "string" || !/^oc_[A-Za-z0-9_-]{1,64}$/.test(body.receive_id)) return answer(res, 400, { code: 230001, msg: "invalid receive_id" });
      chatId = body.receive_id;
    } else {
      const known = a.messages.get(replyTo as string);
      if (known === undefined) return answer(res, 400, { code: 230011, msg: "The message is recalled or deleted." });
      chatId = known;
    }
    const message: FeishuSentMessage = {
      chatId,
      text,
      via: create ? "create" : "reply",
      id: `om_${randomBytes(16).toString("hex")}`,
      uuid,
      replyTo: replyTo ?? null,
      inThread: body.reply_in_thread === true,
      edits: 0,
      at: Date.now(),
    };
    a.sent.push(message);
    a.messages.set(message.id, chatId);
    if (uuid !== null) a.uuids.set(uuid, { message, at: message.at });
    // Executed, but the answer never arrives.
    if (failure === "drop") return void res.destroy();
    return answer(res, 200, { code: 0, msg: "success", data: messageData(message) });
  }

  return listenFake(server, port, stalled);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeFeishu(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
