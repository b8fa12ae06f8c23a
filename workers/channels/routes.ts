// The messaging entry points. Each resolves the account (which gives the tenant), lets the
// channel's adapter verify and parse the delivery, resolves the agent and session key, and hands
// the message to the session's Durable Object; the answer is sent only after the DO recorded it.
// Order on every entry point: cheap authentication from the headers first (no body is read for a
// stranger; Slack signs the body, so its bounded body is read and the signature checked first), then the tenant must be live (workers/tenants/liveness.ts), then the ingress limits
// (./limits.ts), and only then the body.
//   POST /webhooks/:channel/:account   platform webhooks (Telegram, Slack, Discord, LINE, WhatsApp)
//   GET  /webhooks/:channel/:account   a platform's subscription handshake (WhatsApp)
//   POST /hooks/agent                  inbound hooks (bearer token + Idempotency-Key)
//   GET  /hooks/agent/runs/:id         a hook run's status and reply (polling)
//   GET  /webchat/:account             the WebChat page; /webchat/:account/ws the socket
import { Hono, type Context } from "hono";
import type { AcceptResult } from "../../durable-objects/session.ts";
import { isWebhookChannel, webchatPeer, type Channel, type InboundMessage } from "../../schema/channels.ts";
import { base64url } from "../auth/encoding.ts";
import { accountById, resolveBinding, sessionKeyOf, tenantAgents } from "../agents/config.ts";
import type { AppEnv, Env } from "../env.ts";
import { readBodyBytes } from "../http/body.ts";
import { bearerToken } from "../http/api-key-auth.ts";
import { ApiError } from "../http/errors.ts";
import { assertOutboundUrl } from "../security/outbound-url.ts";
import { requireTenantLive, tenantStatus } from "../tenants/liveness.ts";
import { hookAccountOf } from "./hook.ts";
import { agentFor, bindingOf, deliverInbound, publicAccount, sessionStub, type InboundOutcome } from "./inbound.ts";
import { channelAdapters } from "./index.ts";
import { deliverReceiptFailures } from "./receipts.ts";
import { accountIngressAllowed, channelLimitsOf, ingressRefused, rateLimited, takeExact } from "./limits.ts";
import type { Delivery, VerifiableAccount } from "./types.ts";
import { webchatPage } from "./webchat-page.ts";

const MAX_DELIVERY_BYTES = 1024 * 1024;

async function liveAccount(env: Env, id: string, channel: Channel): Promise<VerifiableAccount> {
  const account = id.length <= 64 ? await accountById(env, id) : null;
  if (!account || account.channel !== channel) throw new ApiError(404, "unknown_account", "No such channel account.");
  return account;
}

async function delivery(c: Context<AppEnv>): Promise<Delivery> {
  const bytes = await readBodyBytes(c, MAX_DELIVERY_BYTES);
  return { headers: c.req.raw.headers, body: bytes ? new TextDecoder().decode(bytes) : "" };
}

// A session refused the message (its rate, its inbox, or the account's new-session cap).
function sessionRefusal(result: AcceptResult): ApiError {
  return rateLimited(result.retryAfterMs ?? 1000, result.code ?? "rate_limited", result.message ?? "Too many messages; try again later.");
}

export const webhooks = new Hono<AppEnv>();

// Platforms retry a non-2xx answer (Telegram holds the bot's later updates behind it), so what
// will never be accepted is answered 200 with a status saying why (nothing is recorded): a
// revoked or unknown tenant, a replayed message id, a chat over its own limits. Only the
// account-wide flood gate answers 429: there the platform's backing off is what we want.
webhooks.post("/:channel/:account", async (c) => {
  const channel = c.req.param("channel");
  if (!isWebhookChannel(channel)) throw new ApiError(404, "unknown_channel", `No webhook channel '${channel}'.`);
  const account = await liveAccount(c.env, c.req.param("account"), channel);
  const adapter = channelAdapters[channel];
  // A header secret (Telegram) is checked before the body is read; a signature over the body
  // (Slack) needs the body, read bounded, first.
  const early = adapter.signsBody ? await delivery(c) : null;
  if (!(await adapter.verify(early ?? { headers: c.req.raw.headers, body: "" }, account, c.env))) {
    throw new ApiError(401, "invalid_signature", "The webhook's signature or secret token is missing, wrong or too old.");
  }
  // A platform that encrypts its deliveries (Feishu): the verified body as plaintext, for the
  // handshake and parse below; a malformed one is a 400.
  const opened = early && adapter.open ? await adapter.open(early, account, c.env) : early;
  // The platform's own handshake (Slack's url_verification): answered, nothing recorded.
  const handshake = opened && adapter.handshake ? adapter.handshake(opened) : null;
  if (handshake) return c.json(handshake);
  const ack = (status: string, extra: Record<string, unknown> = {}) => c.json((opened && adapter.ackBody?.(opened, status)) ?? { ok: true, status, ...extra });
  if ((await tenantStatus(c.env, account.tenantId)) !== "live") return ack("tenant_revoked");
  if (!(await accountIngressAllowed(c.env, account.id))) throw ingressRefused();
  const d = opened ?? (await delivery(c));
  if (adapter.parseAll) {
    // A batch (LINE, WhatsApp): each message accepted in order, then the receipt failures it
    // reports (WhatsApp's `failed` statuses, ./receipts.ts), the delivery acknowledged once.
    const messages = adapter.parseAll(d, publicAccount(account), Date.now());
    const failures = adapter.receiptFailures?.(d, publicAccount(account)) ?? [];
    if (messages.length === 0 && failures.length === 0) return ack("ignored");
    const outcomes = [];
    for (const m of messages) outcomes.push(await deliverInbound(c.env, account, m));
    const receipts = failures.length > 0 ? await deliverReceiptFailures(c.env, account, failures) : [];
    const status = outcomes.some((o) => o.status === "accepted") ? "accepted" : outcomes.length > 0 ? (outcomes[0] as InboundOutcome).status : "receipts";
    return ack(status, { events: outcomes, ...(receipts.length > 0 ? { receipts } : {}) });
  }
  const message = adapter.parse(d, publicAccount(account), Date.now());
  if (!message) return ack("ignored");
  const outcome = await deliverInbound(c.env, account, message);
  return outcome.reason ? ack(outcome.status, { reason: outcome.reason }) : ack(outcome.status);
});

// A platform's subscription handshake (WhatsApp's GET with hub.mode, hub.verify_token and
// hub.challenge): the adapter's answer as text, or 403 for a wrong token or mode. A platform
// without one has no GET.
webhooks.get("/:channel/:account", async (c) => {
  const channel = c.req.param("channel");
  const adapter = isWebhookChannel(channel) ? channelAdapters[channel] : null;
  if (!adapter?.subscribe || !isWebhookChannel(channel)) throw new ApiError(404, "unknown_channel", `No webhook handshake for '${channel}'.`);
  const account = await liveAccount(c.env, c.req.param("account"), channel);
  const answer = await adapter.subscribe(new URL(c.req.url).searchParams, account, c.env);
  if (answer === null) throw new ApiError(403, "invalid_verify_token", "The verify token or hub.mode is wrong.");
  await requireTenantLive(c.env, account.tenantId);
  return c.text(answer, 200);
});

export const hooks = new Hono<AppEnv>();

// The token is the Authorization header: a hook caller is authenticated (and its tenant found
// live) before any of its body is read.
async function hookAccount(c: Context<AppEnv>): Promise<VerifiableAccount> {
  const headersOnly: Delivery = { headers: c.req.raw.headers, body: "" };
  const id = hookAccountOf(bearerToken(c.req.header("authorization")));
  const account = id ? await accountById(c.env, id) : null;
  if (!account || account.channel !== "hook" || !(await channelAdapters.hook.verify(headersOnly, account, c.env))) {
    throw new ApiError(401, "invalid_token", "Send a hook token as 'Authorization: Bearer ehk_...'.");
  }
  await requireTenantLive(c.env, account.tenantId);
  return account;
}

function fromB64url(text: string): string | null {
  try {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0)));
  } catch {
    return null;
  }
}

hooks.post("/agent", async (c) => {
  const account = await hookAccount(c);
  if (!(await accountIngressAllowed(c.env, account.id))) throw ingressRefused();
  const wait = await takeExact(c.env, `chan-hooks:${account.id}`, channelLimitsOf(account.limits).hooks_per_min);
  if (wait !== null) throw rateLimited(wait, "hook_rate_limited", "This hook account is over its requests per minute; try again later.");
  const d = await delivery(c);
  const message = channelAdapters.hook.parse(d, publicAccount(account), Date.now()) as InboundMessage;
  // The caller chooses where the reply goes: the outbound-URL policy decides whether we may go there.
  if (message.callbackUrl !== null) assertOutboundUrl(c.env, message.callbackUrl, "callback_url");
  const explicit = (JSON.parse(d.body) as { agent_id?: string }).agent_id;
  const agent = await agentFor(c.env, message, explicit);
  if (!agent) throw new ApiError(404, "no_agent", explicit ? "No such agent." : "No agent is bound to this hook account.");
  const binding = bindingOf(agent, account, message);
  const result = await sessionStub(c.env, binding.key).accept(binding, message);
  if (result.status === "refused") throw sessionRefusal(result);
  const id = `${base64url(binding.key)}.${base64url(message.messageId)}`;
  return c.json({ id, status: result.status, poll_url: `/hooks/agent/runs/${id}` }, 202);
});

hooks.get("/agent/runs/:id", async (c) => {
  const account = await hookAccount(c);
  const [rawKey, rawMsg] = c.req.param("id").split(".");
  const key = rawKey ? fromB64url(rawKey) : null;
  const messageId = rawMsg ? fromB64url(rawMsg) : null;
  // The run must belong to this account's sessions: <tenant>/<agent>/hook/<account>/...
  const parts = key?.split("/") ?? [];
  if (!key || !messageId || parts[0] !== account.tenantId || parts[2] !== "hook" || parts[3] !== account.id) {
    throw new ApiError(404, "not_found", "No such run.");
  }
  const status = await sessionStub(c.env, key).runStatus(messageId);
  if (!status) throw new ApiError(404, "not_found", "No such run.");
  return c.json({ id: c.req.param("id"), status: status.state, reply: status.reply });
});

export const webchatRoutes = new Hono<AppEnv>();

webchatRoutes.get("/:account", async (c) => {
  const account = await liveAccount(c.env, c.req.param("account"), "webchat");
  await requireTenantLive(c.env, account.tenantId);
  return c.html(webchatPage(account.id));
});

// Connecting is the only step the Worker sees; each frame is limited by the session Durable
// Object (tenant, account gate, the session's rate and inbox), and a new visitor id by the
// account's new-session cap, also in the Durable Object (it knows whether it is new).
webchatRoutes.get("/:account/ws", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "upgrade_required", "Connect with a WebSocket.");
  const account = await liveAccount(c.env, c.req.param("account"), "webchat");
  await requireTenantLive(c.env, account.tenantId);
  if (!(await accountIngressAllowed(c.env, account.id))) throw ingressRefused();
  const peer = c.req.query("peer");
  const d: Delivery = { headers: c.req.raw.headers, body: "", peer };
  if (!(await channelAdapters.webchat.verify(d, account, c.env)) || !webchatPeer.safeParse(peer).success) {
    throw new ApiError(400, "invalid_peer", "peer: 16-100 of A-Z, a-z, 0-9, _ and - (a random id the page keeps).");
  }
  const conversation = { channel: "webchat", accountId: account.id, groupId: null, peerId: peer as string, threadId: null };
  const agent = resolveBinding(await tenantAgents(c.env, account.tenantId), conversation);
  if (!agent) throw new ApiError(404, "no_agent", "No agent is bound to this WebChat account.");
  const key = sessionKeyOf(agent, conversation);
  const headers = new Headers(c.req.raw.headers);
  headers.set("x-edgeclaw-session", encodeURIComponent(JSON.stringify({ key, agent, account: publicAccount(account), peer })));
  const upgraded = await sessionStub(c.env, key).fetch(new Request(c.req.raw.url, { headers }));
  // Re-wrapped so the middleware can still add its headers (the DO's response is immutable).
  return new Response(upgraded.body, { status: upgraded.status, headers: new Headers(upgraded.headers), webSocket: upgraded.webSocket });
});
