// A local fake of Discord's REST API v10 (https://discord.com/developers/docs/reference), following
// its documented contract, for the Discord adapter (workers/channels/discord.ts):
//   POST  /api/v10/channels/:channel/messages              create (Authorization: Bot <token>)
//   PATCH /api/v10/channels/:channel/messages/:message     edit (bot token)
//   POST  /api/v10/webhooks/:app/:token                    an interaction's follow-up message
//   PATCH /api/v10/webhooks/:app/:token/messages/@original the interaction's answer (created by
//                                                          the first PATCH after a deferred ack)
//   PATCH /api/v10/webhooks/:app/:token/messages/:message  edit a follow-up
//   GET   /api/v10/gateway/bot                             {url, shards, session_start_limit}
// Answers have Discord's shapes: a message object {id (snowflake), channel_id, content, ...};
// errors {code, message}: 401 {code:0} for a missing/unknown bot token, 401 {code:50027} for an
// expired interaction token, 404 {code:10003|10008|10015}, 400 {code:50006|50035} for empty or
// over-2,000-character content. Every answer carries X-RateLimit-Limit/Remaining/Reset/
// Reset-After/Bucket (bucket per route and channel or webhook, 5 per 5 s, reported, not enforced);
// a 429 is only answered when a test asks, with the real headers (Retry-After, X-RateLimit-Scope,
// X-RateLimit-Global) and body {message, retry_after (seconds, fractional), global}.
// Bot tokens the fake knows: three dot-separated base64url parts, like Discord's.
// Control (tests; `key` is a bot token or an application id, whichever the request carries):
//   POST /control/fail {key, kind: "429"|"global429"|"500"|"stall"|"error", times, retry_after?, status?, code?}
//   POST /control/interaction {app, token, channel_id} (or {interactions: [...]})  interactions
//                                    Discord sent (the test signs them): their webhooks exist
//                                    from now on (else 404, 10015)
//   POST /control/expire {token}     that interaction token now answers 401 (code 50027)
//   POST /control/gateway {url}      what GET /gateway/bot answers as url (the Gateway fake)
//   GET  /control/requests?key=K     every request that carried K, in arrival order
//   GET  /control/messages?key=K     the messages as they stand now (content after edits)
// Run alone for end-to-end tests: `node test/fakes/discord.ts <port>`.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { json, listenFake, readBody } from "./upstream-http.ts";

export interface DiscordRequest {
  method: string;
  path: string;
  // The bot token (from Authorization: Bot ...) or null; the application of a webhook call or null.
  bot: string | null;
  app: string | null;
  body: unknown;
  status: number;
  at: number;
}

export interface DiscordMessage {
  id: string;
  channel_id: string;
  content: string;
  // Who created it: the bot token, or the interaction (application id and token).
  bot: string | null;
  app: string | null;
  interaction_token: string | null;
  original: boolean;
  message_reference: { message_id: string } | null;
  allowed_mentions: unknown;
  edits: number;
  created_at: number;
}

interface Failure {
  kind: "429" | "global429" | "500" | "stall" | "error";
  times: number;
  retry_after: number;
  status: number;
  code: number;
}

export interface FakeDiscord {
  url: string;
  close(): Promise<void>;
}

const MAX_CONTENT = 2_000;
const BOT_TOKEN = /^[A-Za-z0-9_-]{10,100}\.[A-Za-z0-9_-]{4,20}\.[A-Za-z0-9_-]{10,100}$/;
const DISCORD_EPOCH = 1_420_070_400_000n;

function rateHeaders(bucket: string, remaining: number, resetAfter: number): Record<string, string> {
  return {
    "x-ratelimit-limit": "5",
    "x-ratelimit-remaining": String(Math.max(0, remaining)),
    "x-ratelimit-reset": ((Date.now() + resetAfter * 1000) / 1000).toFixed(3),
    "x-ratelimit-reset-after": resetAfter.toFixed(3),
    "x-ratelimit-bucket": bucket,
  };
}

export async function startFakeDiscord(port = 0): Promise<FakeDiscord> {
  const requests: DiscordRequest[] = [];
  const messages = new Map<string, DiscordMessage>();
  const failures = new Map<string, Failure>();
  const expired = new Set<string>();
  const interactions = new Map<string, { app: string; channel_id: string }>();
  const windows = new Map<string, number[]>();
  const stalled = new Set<ServerResponse>();
  let gatewayUrl = "wss://gateway.discord.gg";
  let seq = 0n;

  const snowflake = () => String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) + (++seq % 4096n));

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { code: 0, message: String(err) }));
  });

  function answer(res: ServerResponse, record: DiscordRequest, bucket: string, status: number, body: unknown, extra: Record<string, string> = {}): void {
    record.status = status;
    const now = Date.now();
    const recent = (windows.get(bucket) ?? []).filter((t) => t > now - 5_000);
    recent.push(now);
    windows.set(bucket, recent);
    res.writeHead(status, { "content-type": "application/json", ...rateHeaders(bucket, 5 - recent.length, 5), ...extra });
    res.end(JSON.stringify(body));
  }

  function control(url: URL, raw: string, res: ServerResponse): void {
    const key = url.searchParams.get("key");
    if (url.pathname === "/control/requests") return json(res, 200, requests.filter((r) => key === null || r.bot === key || r.app === key));
    if (url.pathname === "/control/messages") return json(res, 200, [...messages.values()].filter((m) => key === null || m.bot === key || m.app === key));
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    if (url.pathname === "/control/gateway") {
      gatewayUrl = String(body.url);
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/control/interaction") {
      const list = Array.isArray(body.interactions) ? (body.interactions as Record<string, unknown>[]) : [body];
      for (const ix of list) interactions.set(String(ix.token), { app: String(ix.app), channel_id: String(ix.channel_id) });
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/control/expire") {
      expired.add(String(body.token));
      return json(res, 200, { ok: true });
    }
    if (url.pathname === "/control/fail") {
      const f = body as Partial<Failure> & { key?: string };
      failures.set(String(f.key), { kind: f.kind ?? "429", times: f.times ?? 1, retry_after: f.retry_after ?? 1, status: f.status ?? 403, code: f.code ?? 50001 });
      return json(res, 200, { ok: true });
    }
    return json(res, 404, { code: 0, message: "404: Not Found" });
  }

  // A failure a test asked for, answered instead of the real thing; true when answered.
  function failed(key: string | null, res: ServerResponse, record: DiscordRequest, bucket: string): boolean {
    const failure = key === null ? undefined : failures.get(key);
    if (!failure || failure.times <= 0) return false;
    failure.times--;
    if (failure.kind === "stall") {
      // Never answered: the client's timeout ends it.
      record.status = 0;
      stalled.add(res);
      res.on("close", () => stalled.delete(res));
      return true;
    }
    if (failure.kind === "500") {
      answer(res, record, bucket, 500, { message: "500: Internal Server Error", code: 0 });
      return true;
    }
    if (failure.kind === "error") {
      answer(res, record, bucket, failure.status, { message: failure.status === 403 ? "Missing Access" : "Error", code: failure.code });
      return true;
    }
    const global = failure.kind === "global429";
    const headers: Record<string, string> = { "retry-after": String(Math.ceil(failure.retry_after)), "x-ratelimit-scope": global ? "global" : "user" };
    if (global) headers["x-ratelimit-global"] = "true";
    else Object.assign(headers, rateHeaders(bucket, 0, failure.retry_after));
    record.status = 429;
    res.writeHead(429, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify({ message: "You are being rate limited.", retry_after: failure.retry_after, global }));
    return true;
  }

  // Content as Discord checks it; null when fine, else the error answer.
  function contentError(body: Record<string, unknown>): { status: number; body: unknown } | null {
    if (typeof body.content !== "string" || body.content.length === 0) return { status: 400, body: { message: "Cannot send an empty message", code: 50006 } };
    if (body.content.length > MAX_CONTENT) {
      return { status: 400, body: { message: "Invalid Form Body", code: 50035, errors: { content: { _errors: [{ code: "BASE_TYPE_MAX_LENGTH", message: "Must be 2000 or fewer in length." }] } } } };
    }
    return null;
  }

  function create(fields: Partial<DiscordMessage> & { channel_id: string; content: string }): DiscordMessage {
    const message: DiscordMessage = {
      id: snowflake(),
      bot: null,
      app: null,
      interaction_token: null,
      original: false,
      message_reference: null,
      allowed_mentions: null,
      edits: 0,
      created_at: Date.now(),
      ...fields,
    };
    messages.set(message.id, message);
    return message;
  }

  function shape(m: DiscordMessage) {
    return { id: m.id, type: m.message_reference ? 19 : 0, channel_id: m.channel_id, content: m.content, ...(m.message_reference ? { message_reference: m.message_reference } : {}) };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const raw = await readBody(req);
    if (url.pathname.startsWith("/control/")) return control(url, raw, res);
    const path = url.pathname.replace(/^\/api\/v10/, "");
    const auth = /^Bot (\S+)$/.exec(req.headers.authorization ?? "");
    const webhook = /^\/webhooks\/(\d{1,20})\/([A-Za-z0-9_.-]{1,500})(?:\/messages\/(@original|\d{1,20}))?$/.exec(path);
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      return json(res, 400, { message: "400: Bad Request", code: 50109 });
    }
    const record: DiscordRequest = { method: req.method ?? "", path, bot: auth?.[1] ?? null, app: webhook?.[1] ?? null, body, status: 0, at: Date.now() };
    requests.push(record);

    if (webhook) {
      const [, app, token, target] = webhook as unknown as [string, string, string, string | undefined];
      const bucket = `wh-${app}-${token.slice(0, 8)}`;
      if (failed(app, res, record, bucket)) return;
      if (expired.has(token)) return answer(res, record, bucket, 401, { message: "Invalid Webhook Token", code: 50027 });
      const interaction = interactions.get(token);
      if (!interaction || interaction.app !== app) return answer(res, record, bucket, 404, { message: "Unknown Webhook", code: 10015 });
      const bad = contentError(body);
      if (bad) return answer(res, record, bucket, bad.status, bad.body);
      const content = body.content as string;
      if (req.method === "POST" && target === undefined) {
        const m = create({ channel_id: interaction.channel_id, content, app, interaction_token: token, allowed_mentions: body.allowed_mentions ?? null });
        return answer(res, record, bucket, 200, shape(m));
      }
      if (req.method !== "PATCH" || target === undefined) return answer(res, record, bucket, 405, { message: "405: Method Not Allowed", code: 0 });
      const existing = [...messages.values()].find((m) => m.interaction_token === token && (target === "@original" ? m.original : m.id === target));
      if (existing) {
        existing.content = content;
        existing.edits++;
        return answer(res, record, bucket, 200, shape(existing));
      }
      // The deferred answer ("thinking...") becomes the message at its first edit.
      if (target !== "@original") return answer(res, record, bucket, 404, { message: "Unknown Message", code: 10008 });
      const m = create({ channel_id: interaction.channel_id, content, app, interaction_token: token, original: true, allowed_mentions: body.allowed_mentions ?? null });
      return answer(res, record, bucket, 200, shape(m));
    }

    if (!auth || !BOT_TOKEN.test(auth[1] as string)) return answer(res, record, "global", 401, { message: "401: Unauthorized", code: 0 });
    const bot = auth[1] as string;
    if (path === "/gateway/bot" && req.method === "GET") {
      return answer(res, record, "gateway", 200, { url: gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 } });
    }
    const channel = /^\/channels\/([^/]+)\/messages(?:\/([^/]+))?$/.exec(path);
    if (!channel) return answer(res, record, "unknown", 404, { message: "404: Not Found", code: 0 });
    const [, channelId, messageId] = channel as unknown as [string, string, string | undefined];
    const bucket = `ch-${channelId}`;
    if (failed(bot, res, record, bucket)) return;
    if (!/^\d{1,20}$/.test(channelId)) return answer(res, record, bucket, 404, { message: "Unknown Channel", code: 10003 });
    const bad = contentError(body);
    if (bad) return answer(res, record, bucket, bad.status, bad.body);
    const content = body.content as string;
    if (req.method === "POST" && messageId === undefined) {
      const ref = body.message_reference as { message_id?: string } | undefined;
      const m = create({ channel_id: channelId, content, bot, message_reference: ref?.message_id ? { message_id: ref.message_id } : null, allowed_mentions: body.allowed_mentions ?? null });
      return answer(res, record, bucket, 200, shape(m));
    }
    if (req.method === "PATCH" && messageId !== undefined) {
      const m = messages.get(messageId);
      if (!m || m.channel_id !== channelId) return answer(res, record, bucket, 404, { message: "Unknown Message", code: 10008 });
      // A bot edits only its own messages.
      if (m.bot !== bot) return answer(res, record, bucket, 403, { message: "Cannot edit a message authored by another user", code: 50005 });
      m.content = content;
      m.edits++;
      return answer(res, record, bucket, 200, shape(m));
    }
    return answer(res, record, bucket, 405, { message: "405: Method Not Allowed", code: 0 });
  }

  return listenFake(server, port, stalled);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeDiscord(Number(process.argv[2] ?? 0));
  console.log(fake.url);
}
