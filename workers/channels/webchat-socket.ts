// WebChat's sockets on the session Durable Object (durable-objects/session.ts), with the
// WebSocket hibernation API: the upgrade (the account's new-session cap, then a `history`
// frame), every frame in (tenant and ingress checks, parse, accept, then `ack` or `error`),
// close, and the frames a turn sends out while it streams. The frame format is webchat.ts's.
import type { InboundMessage } from "../../schema/channels.ts";
import type { AcceptResult, SessionBinding, SessionHost } from "../../durable-objects/session-store.ts";
import { tenantStatus } from "../tenants/liveness.ts";
import { errorBody } from "../http/errors.ts";
import { accountIngressAllowed, channelLimitsOf, INGRESS_WINDOW_S, rateLimited } from "./limits.ts";
import type { NewSessionAdmission } from "./session-ingress.ts";
import { webchat } from "./webchat.ts";

export async function openWebChatSocket(
  s: SessionHost,
  request: Request,
  admission: NewSessionAdmission,
  bind: (b: SessionBinding) => void,
): Promise<Response> {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
  const binding = JSON.parse(decodeURIComponent(request.headers.get("x-edgeclaw-session") ?? "null")) as (SessionBinding & { peer: string }) | null;
  if (!binding) return new Response("missing session binding", { status: 400 });
  // A new visitor id is a new session: the account's cap decides before anything is stored.
  if (s.meta<number>("created_at") === null) {
    const wait = await admission.admit(binding.account.id, channelLimitsOf(binding.account.limits).new_sessions_per_min);
    if (wait !== null) {
      const err = rateLimited(wait, "too_many_new_sessions", "This WebChat opens too many new conversations; try again later.");
      return Response.json(errorBody(new URL(request.url).pathname, err), { status: err.status, headers: err.headers });
    }
  }
  bind(binding);
  s.setMeta("last_active", Date.now());
  const pair = new WebSocketPair();
  const [client, server] = [pair[0], pair[1]];
  s.ctx.acceptWebSocket(server);
  server.serializeAttachment({ peer: binding.peer });
  server.send(
    JSON.stringify({
      type: "history",
      messages: s
        .history()
        .filter((h) => !h.summary)
        .map((h) => ({ role: h.role, content: h.content })),
    }),
  );
  await s.wake(Date.now());
  return new Response(null, { status: 101, webSocket: client });
}

export async function onWebChatFrame(
  s: SessionHost,
  ws: WebSocket,
  data: string | ArrayBuffer,
  accept: (b: SessionBinding, m: InboundMessage) => Promise<AcceptResult>,
): Promise<void> {
  const { peer } = ws.deserializeAttachment() as { peer: string };
  const bound = s.binding();
  if (!bound) return ws.close(4001, "session gone");
  const { agent, account, key } = bound;
  // A socket opened before its tenant was revoked gets no further turn.
  if ((await tenantStatus(s.env, account.tenantId)) !== "live") {
    ws.send(JSON.stringify({ type: "error", code: "tenant_revoked", message: "This chat is no longer available." }));
    return ws.close(4003, "tenant revoked");
  }
  if (!(await accountIngressAllowed(s.env, account.id))) {
    ws.send(JSON.stringify({ type: "error", code: "channel_rate_limited", message: "This chat gets too many messages; try again later.", retry_after_ms: INGRESS_WINDOW_S * 1000 }));
    return;
  }
  let message: InboundMessage | null;
  try {
    message = webchat.parse({ headers: new Headers(), body: typeof data === "string" ? data : new TextDecoder().decode(data), peer }, account, Date.now());
  } catch (err) {
    ws.send(JSON.stringify({ type: "error", message: err instanceof Error ? err.message : "invalid frame" }));
    return;
  }
  if (!message) return;
  const result = await accept({ key, agent, account }, message);
  if (result.status === "refused") {
    // Not acknowledged: the page keeps the message and may send it again later.
    ws.send(JSON.stringify({ type: "error", id: message.messageId, code: result.code, message: result.message, retry_after_ms: result.retryAfterMs }));
    return;
  }
  ws.send(JSON.stringify({ type: "ack", id: message.messageId, status: result.status }));
}

export function onWebChatClose(ws: WebSocket, code: number): void {
  try {
    ws.close(code === 1005 ? 1000 : code, "closing");
  } catch {
    // already closed
  }
}

// A frame to every socket open on the session (a turn's `delta` frames as tokens arrive).
export function broadcast(ctx: DurableObjectState, frame: unknown): void {
  const text = JSON.stringify(frame);
  for (const ws of ctx.getWebSockets()) {
    try {
      ws.send(text);
    } catch {
      // closed meanwhile
    }
  }
}
