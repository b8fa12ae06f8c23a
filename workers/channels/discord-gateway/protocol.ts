// Discord Gateway protocol constants and pure helpers
// (https://discord.com/developers/docs/events/gateway, .../topics/opcodes-and-status-codes).
import { checkOutboundUrl } from "../../security/outbound-url.ts";
import type { Env } from "../../env.ts";

export const DISCORD_API = "https://discord.com/api/v10";

export const Op = {
  DISPATCH: 0,
  HEARTBEAT: 1,
  IDENTIFY: 2,
  RESUME: 6,
  RECONNECT: 7,
  INVALID_SESSION: 9,
  HELLO: 10,
  HEARTBEAT_ACK: 11,
} as const;

// GUILD_MESSAGES (1 << 9) | DIRECT_MESSAGES (1 << 12) | MESSAGE_CONTENT (1 << 15). MESSAGE_CONTENT
// is privileged: without it enabled in the Developer Portal Discord closes with 4014.
export const INTENTS = (1 << 9) | (1 << 12) | (1 << 15);

// Close codes after which reconnecting cannot help: the token, shard, version or intents are
// wrong; a person has to fix the configuration. The connection stops and records why.
export const FATAL_CLOSE_CODES: Readonly<Record<number, string>> = {
  4004: "authentication failed (the bot token is wrong)",
  4010: "invalid shard",
  4011: "sharding required",
  4012: "invalid API version",
  4013: "invalid intents",
  4014: "disallowed intents (enable MESSAGE CONTENT and the other intents in the Developer Portal)",
};

// Codes after which the session cannot be resumed (invalid seq, session timed out): a new IDENTIFY.
export const SESSION_LOST_CLOSE_CODES: ReadonlySet<number> = new Set([4007, 4009]);

// The code we close with when we mean to resume: anything but 1000/1001, which end the session.
export const RESUMABLE_CLOSE = 4000;

// Frames larger than these are dropped unread. Until the session is ready (READY or RESUMED seen)
// up to 1 MiB: READY lists every guild of the bot (up to 2,500 per shard) and a RESUME's replayed
// events come before RESUMED. After that only dispatches of our intents arrive (MESSAGE_CREATE and
// the like): Discord's largest (4,000 characters of content, 6,000 of embeds, a referenced
// message with its own, mentions with member objects, all JSON-escaped) stays well under 256 KiB.
// An event dropped so is lost (its seq is unknown); only a hostile or broken gateway sends one.
// The limit is per frame and the frame is only parsed, never kept: what is queued is the small
// InboundMessage (see MAX_PENDING_BYTES).
export const MAX_HANDSHAKE_FRAME_CHARS = 1024 * 1024;
export const MAX_EVENT_FRAME_CHARS = 256 * 1024;
// Events waiting for the accept path before the connection is dropped (and resumed later from the
// last accepted sequence): the queue is bounded whatever the gateway sends, by count and by the
// size of the messages it holds (each at most ~8,000 characters of text: 2 MiB is ~250 of the
// largest, thousands of ordinary ones), so one bot's flood cannot fill the isolate it shares.
export const MAX_PENDING_EVENTS = 500;
export const MAX_PENDING_BYTES = 2 * 1024 * 1024;
// A HELLO outside these bounds is clamped: a hostile gateway cannot make the heartbeat spin
// (Discord's is ~41 s; under 1 s would only be a gateway driving our timers).
export const MIN_HEARTBEAT_MS = 1_000;
export const MAX_HEARTBEAT_MS = 120_000;
export const HELLO_TIMEOUT_MS = 15_000;
export const CONNECT_TIMEOUT_MS = 15_000;
// The alarm that notices an evicted object or a silent connection.
export const WATCHDOG_MS = 30_000;
// Reconnect backoff cap; a connection that stayed up this long resets the backoff.
export const MAX_BACKOFF_MS = 60_000;
export const STABLE_CONNECTION_MS = 10_000;

// What one queued event holds, in bytes as counted against MAX_PENDING_BYTES: its message as
// UTF-16 text (the JSON length, x2) plus a fixed cost for the closure and the entry, so even
// ignored events (no message) count.
export const PENDING_ENTRY_BYTES = 256;
export function pendingSize(message: unknown): number {
  return PENDING_ENTRY_BYTES + (message === null ? 0 : JSON.stringify(message).length * 2);
}

// Whether one more event of `size` fits the queue.
export function pendingAdmits(pending: number, pendingBytes: number, size: number): boolean {
  return pending < MAX_PENDING_EVENTS && pendingBytes + size <= MAX_PENDING_BYTES;
}

export function clampHeartbeat(ms: number): number {
  return Math.min(MAX_HEARTBEAT_MS, Math.max(MIN_HEARTBEAT_MS, ms));
}

// The wait before reconnect attempt `failures` (0: the first after a good connection): full
// jitter within an exponential window, so many bots dropped at once do not return at once.
export function backoffMs(failures: number, baseMs: number, random = Math.random): number {
  const window = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** Math.min(failures, 20));
  return Math.round(window * (0.5 + random() / 2));
}

// Discord asks for 1-5 s before a new IDENTIFY after INVALID_SESSION (d false).
export function invalidSessionDelayMs(random = Math.random): number {
  return 1_000 + Math.round(random() * 4_000);
}

export function retryBaseMs(env: Env): number {
  const n = Number(env.DISCORD_GATEWAY_RETRY_BASE_MS);
  return Number.isFinite(n) && n > 0 ? n : 1_000;
}

export function identifyPayload(token: string) {
  return { op: Op.IDENTIFY, d: { token, intents: INTENTS, properties: { os: "linux", browser: "edgeclaw", device: "edgeclaw" } } };
}

export function resumePayload(token: string, sessionId: string, seq: number | null) {
  return { op: Op.RESUME, d: { token, session_id: sessionId, seq } };
}

// The fetch URL for a gateway socket URL (wss:// -> https://, ws:// -> http://) with the version
// and encoding, checked against the outbound-URL policy like every URL the bot token goes to (a
// resume_gateway_url comes from the gateway itself; an api_base_url from a tenant admin).
export function socketFetchUrl(env: Env, gatewayUrl: string): { ok: true; url: string } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(gatewayUrl);
  } catch {
    return { ok: false, reason: "the gateway URL is not a URL" };
  }
  if (url.protocol === "wss:") url.protocol = "https:";
  else if (url.protocol === "ws:") url.protocol = "http:";
  // Discord's URL has no query of its own; one it has anyway is kept, the version and encoding set.
  url.searchParams.set("v", "10");
  url.searchParams.set("encoding", "json");
  url.hash = "";
  const verdict = checkOutboundUrl(env, url.toString());
  return verdict.ok ? { ok: true, url: url.toString() } : { ok: false, reason: `gateway URL refused: ${verdict.reason}` };
}
