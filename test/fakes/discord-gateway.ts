// A local fake of Discord's Gateway (https://discord.com/developers/docs/events/gateway), following
// its documented contract for what EdgeClaw uses. Two socket URLs:
//   ws://127.0.0.1:<port>/ws          Discord's shape: one URL for every bot; a socket belongs to
//        the bot whose token its IDENTIFY or RESUME carries (what the REST fake, test/fakes/discord.ts,
//        hands out from GET /gateway/bot once a test sets it there)
//   ws://127.0.0.1:<port>/ws/<token>  the same, named per bot (its own HELLO interval); this
//        server's own GET /api/v10/gateway/bot (Authorization: Bot <token>) answers with it
// The socket: HELLO (op 10, heartbeat_interval) on connect; heartbeat (op 1) answered with ACK
//   (op 11); IDENTIFY (op 2) starts a session: READY (op 0, t READY, s 1, session_id,
//   resume_gateway_url = the URL the socket came in on, user); RESUME (op 6) with the session's id
//   replays every dispatch after the given seq, then RESUMED; an unknown session id gets
//   INVALID_SESSION (op 9, d false); a bot told to reject is closed with that code at IDENTIFY
//   (4004 authentication failed, 4014 disallowed intents); a frame that is not JSON closes with 4002
// Control (HTTP, per token):
//   POST /control/<token>/config   {heartbeat_interval?, ack?, reject?}  ack false: the sockets open
//        now stop answering heartbeats (a zombie connection; sockets opened later answer again);
//        ack true: all answer; reject: a close code for every IDENTIFY (null: accept again)
//   POST /control/<token>/dispatch {t, d} or {events:[{t,d}], hold?}  appended to the session with the
//        next s, sent now on the bot's identified socket (if any; hold: not sent, as if lost on the
//        wire), replayed on RESUME
//   POST /control/<token>/drop     terminate every socket of the bot (no close frame: a network drop)
//   POST /control/<token>/close    {code}: close the bot's sockets with that code
//   POST /control/<token>/reconnect   send op 7 RECONNECT
//   POST /control/<token>/invalid  {resumable}: send op 9 INVALID_SESSION with d = resumable
//   POST /control/<token>/raw      {text} or {repeat: n}: send one raw text frame (a hostile gateway)
//   GET  /control/<token>/stats    {sockets, open, max_open, identifies, resumes, heartbeats, acks,
//        session_id, seq, frames}: frames are every frame received on the bot's sockets
//        ({op, d, at, socket}), at most 1,000 kept
// Run alone for end-to-end tests: `node test/fakes/discord-gateway.ts <port>`.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { WebSocket, WebSocketServer as WsServer } from "ws";
import { json, readBody } from "./upstream-http.ts";

export interface GatewayFrame {
  op: number;
  d: unknown;
  at: number;
  socket: number;
}

interface Dispatch {
  s: number;
  t: string;
  d: unknown;
}

interface Bot {
  heartbeatInterval: number;
  // Sockets that no longer answer heartbeats.
  muted: Set<WebSocket>;
  sockets: Set<WebSocket>;
  // Sockets that identified or resumed: they get the dispatches.
  live: Set<WebSocket>;
  socketCount: number;
  maxOpen: number;
  reject: number | null;
  identifies: number;
  resumes: number;
  heartbeats: number;
  acks: number;
  session: { id: string; events: Dispatch[]; next: number } | null;
  frames: GatewayFrame[];
}

export interface FakeDiscordGateway {
  url: string;
  close(): Promise<void>;
}

// Loaded through Node's require: vite's module runner (vitest globalSetup) resolves a bare "ws"
// import to the package's browser stub, which has no server.
const { WebSocketServer } = createRequire(import.meta.url)("ws") as { WebSocketServer: typeof WsServer };

const MAX_FRAMES = 1_000;
const MAX_EVENTS = 20_000;

// heartbeatInterval: what HELLO says on the shared /ws URL (Discord's is 41,250 ms).
export async function startFakeDiscordGateway(port = 0, options: { heartbeatInterval?: number } = {}): Promise<FakeDiscordGateway> {
  const defaultInterval = options.heartbeatInterval ?? 41_250;
  const bots = new Map<string, Bot>();
  let base = "";
  let sessions = 0;

  function bot(token: string): Bot {
    let b = bots.get(token);
    if (!b) {
      b = { heartbeatInterval: defaultInterval, muted: new Set(), sockets: new Set(), live: new Set(), socketCount: 0, maxOpen: 0, reject: null, identifies: 0, resumes: 0, heartbeats: 0, acks: 0, session: null, frames: [] };
      bots.set(token, b);
    }
    return b;
  }

  function send(ws: WebSocket, payload: unknown): void {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(payload));
  }

  // READY and RESUMED take a sequence number but are about one socket: never replayed.
  function dispatch(b: Bot, t: string, d: unknown): Dispatch {
    const session = b.session as NonNullable<Bot["session"]>;
    const event = { s: session.next++, t, d };
    if (t === "READY" || t === "RESUMED") return event;
    session.events.push(event);
    if (session.events.length > MAX_EVENTS) session.events.shift();
    return event;
  }

  function socketUrl(token: string): string {
    return `${base.replace("http://", "ws://")}/ws/${encodeURIComponent(token)}`;
  }

  // A socket belongs to a bot from its URL (/ws/<token>) or from the token of its IDENTIFY/RESUME.
  function onSocket(ws: WebSocket, named: string | null, url: string): void {
    let b: Bot | null = null;
    let id = 0;
    const attach = (token: string): Bot => {
      if (b) return b;
      b = bot(token);
      b.sockets.add(ws);
      id = ++b.socketCount;
      b.maxOpen = Math.max(b.maxOpen, b.sockets.size);
      return b;
    };
    if (named !== null) attach(named);
    send(ws, { op: 10, d: { heartbeat_interval: named !== null ? bot(named).heartbeatInterval : defaultInterval }, s: null, t: null });
    ws.on("message", (data, isBinary) => {
      let frame: { op?: unknown; d?: any };
      try {
        frame = JSON.parse(isBinary ? "" : data.toString()) as typeof frame;
      } catch {
        return void ws.close(4002, "Error while decoding payload.");
      }
      const token = typeof frame.d?.token === "string" && frame.d.token.length > 0 ? (frame.d.token as string) : null;
      if ((frame.op === 2 || frame.op === 6) && token !== null) attach(token);
      const owner = b as Bot | null;
      if (!owner) {
        // A heartbeat before the bot named itself: answered, not recorded.
        if (frame.op === 1) send(ws, { op: 11 });
        else if (frame.op === 2 || frame.op === 6) ws.close(4004, "Authentication failed.");
        return;
      }
      owner.frames.push({ op: Number(frame.op), d: frame.d ?? null, at: Date.now(), socket: id });
      if (owner.frames.length > MAX_FRAMES) owner.frames.shift();
      if (frame.op === 1) {
        owner.heartbeats++;
        if (!owner.muted.has(ws)) {
          owner.acks++;
          send(ws, { op: 11 });
        }
        return;
      }
      if (frame.op === 2) {
        if (token === null || (named !== null && token !== named)) return void ws.close(4004, "Authentication failed.");
        if (owner.reject !== null) return void ws.close(owner.reject, owner.reject === 4004 ? "Authentication failed." : "Rejected by the fake.");
        owner.identifies++;
        owner.session = { id: `sess-${++sessions}-${Math.random().toString(36).slice(2, 10)}`, events: [], next: 1 };
        owner.live.add(ws);
        const ready = dispatch(owner, "READY", {
          v: 10,
          user: { id: "100000000000000001", username: "edgeclaw", bot: true },
          session_id: owner.session.id,
          resume_gateway_url: url,
          guilds: [],
          application: { id: "200000000000000002" },
        });
        return send(ws, { op: 0, ...ready });
      }
      if (frame.op === 6) {
        const session = owner.session;
        if (!session || frame.d?.session_id !== session.id) return send(ws, { op: 9, d: false, s: null, t: null });
        owner.resumes++;
        const after = Number(frame.d?.seq ?? 0);
        for (const e of session.events) if (e.s > after) send(ws, { op: 0, ...e });
        owner.live.add(ws);
        const resumed = dispatch(owner, "RESUMED", null);
        return send(ws, { op: 0, ...resumed });
      }
    });
    ws.on("close", () => {
      const owner = b as Bot | null;
      if (!owner) return;
      owner.sockets.delete(ws);
      owner.live.delete(ws);
      owner.muted.delete(ws);
    });
    ws.on("error", () => undefined);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 });

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => json(res, 500, { message: String(err), code: 0 }));
  });

  server.on("upgrade", (req, socket, head) => {
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    const m = /^\/ws(?:\/([^/]+))?\/?$/.exec(path);
    if (!m) return void socket.destroy();
    const named = m[1] === undefined ? null : decodeURIComponent(m[1]);
    const url = named === null ? `${base.replace("http://", "ws://")}/ws` : socketUrl(named);
    wss.handleUpgrade(req, socket, head, (ws) => onSocket(ws, named, url));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    if (/^(\/api\/v10)?\/gateway\/bot$/.test(url.pathname)) {
      const auth = /^Bot (\S+)$/.exec(req.headers.authorization ?? "");
      if (!auth) return json(res, 401, { message: "401: Unauthorized", code: 0 });
      return json(res, 200, { url: socketUrl(auth[1] as string), shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 } });
    }
    const control = /^\/control\/([^/]+)\/(config|dispatch|drop|close|reconnect|invalid|raw|stats)$/.exec(url.pathname);
    if (!control) return json(res, 404, { message: "404: Not Found", code: 0 });
    const b = bot(decodeURIComponent(control[1] as string));
    const action = control[2];
    if (action === "stats") {
      return json(res, 200, {
        sockets: b.socketCount,
        open: b.sockets.size,
        max_open: b.maxOpen,
        identifies: b.identifies,
        resumes: b.resumes,
        heartbeats: b.heartbeats,
        acks: b.acks,
        session_id: b.session?.id ?? null,
        seq: b.session ? b.session.next - 1 : 0,
        frames: b.frames,
      });
    }
    const raw = await readBody(req);
    const body = (raw ? JSON.parse(raw) : {}) as Record<string, any>;
    if (action === "config") {
      if (typeof body.heartbeat_interval === "number") b.heartbeatInterval = body.heartbeat_interval;
      if (body.ack === false) for (const ws of b.sockets) b.muted.add(ws);
      if (body.ack === true) b.muted.clear();
      if (body.reject !== undefined) b.reject = body.reject === null ? null : Number(body.reject);
      return json(res, 200, { ok: true });
    }
    if (action === "dispatch") {
      if (!b.session) return json(res, 409, { message: "no session: the bot never identified" });
      const events = Array.isArray(body.events) ? (body.events as { t: string; d: unknown }[]) : [{ t: body.t as string, d: body.d }];
      const sent = events.map((e) => dispatch(b, e.t, e.d));
      // hold: kept for a RESUME but never sent now, as if lost on the wire before a drop.
      if (body.hold !== true) for (const ws of b.live) for (const e of sent) send(ws, { op: 0, ...e });
      return json(res, 200, { ok: true, s: sent.map((e) => e.s) });
    }
    if (action === "drop") {
      for (const ws of b.sockets) ws.terminate();
      return json(res, 200, { ok: true });
    }
    if (action === "close") {
      for (const ws of b.sockets) ws.close(Number(body.code ?? 4000), String(body.reason ?? "closed by the fake"));
      return json(res, 200, { ok: true });
    }
    if (action === "reconnect") {
      for (const ws of b.sockets) send(ws, { op: 7, d: null, s: null, t: null });
      return json(res, 200, { ok: true });
    }
    if (action === "invalid") {
      for (const ws of b.sockets) send(ws, { op: 9, d: body.resumable === true, s: null, t: null });
      return json(res, 200, { ok: true });
    }
    const text = typeof body.repeat === "number" ? `{"op":0,"s":null,"t":"X","d":"${"x".repeat(body.repeat)}"}` : String(body.text ?? "");
    for (const ws of b.sockets) if (ws.readyState === ws.OPEN) ws.send(text);
    return json(res, 200, { ok: true });
  }

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${bound}`;
  return {
    url: base,
    close: () =>
      new Promise<void>((resolve) => {
        for (const b of bots.values()) for (const ws of b.sockets) ws.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fake = await startFakeDiscordGateway(Number(process.argv[2] ?? 0), { heartbeatInterval: Number(process.argv[3] ?? 41_250) });
  console.log(fake.url);
}
