// The logic of one bot's Gateway connection, held by its Durable Object
// (durable-objects/discord-gateway.ts): what state is kept, when to connect, resume, identify
// anew, back off or stop, and the ordered hand-over of each MESSAGE_CREATE to the accept path.
//   persisted  desired (running/stopped), session id, last accepted seq, resume URL, counters,
//              the last close and error: an evicted object resumes where it was (the alarm)
//   seq        moves only after the event's accept resolved, so a crash or a drop resumes from
//              an event already recorded; a replay is dropped by the message-id dedupe
//   order      one promise chain per object: events reach sessions in the order Discord sent them
//   backoff    exponential with jitter, capped; it resets only after a connection stayed up
import { publicAccount, deliverInbound } from "../inbound.ts";
import { gatewayBot, gatewayReady } from "../../../schema/discord-gateway.ts";
import { accountById } from "../../agents/config.ts";
import { resolveSecret } from "../../auth/secrets.ts";
import type { Env } from "../../env.ts";
import { checkOutboundUrl } from "../../security/outbound-url.ts";
import { tenantStatus } from "../../tenants/liveness.ts";
import { discordMessage } from "../discord-message.ts";
import { accountIngressAllowed } from "../limits.ts";
import { readPlatformJson } from "../platform-http.ts";
import type { InboundMessage } from "../../../schema/channels.ts";
import type { AccountConfig, VerifiableAccount } from "../types.ts";
import { GatewayConnection, type SocketEnd } from "./connection.ts";
import {
  backoffMs,
  CONNECT_TIMEOUT_MS,
  DISCORD_API,
  FATAL_CLOSE_CODES,
  pendingAdmits,
  pendingSize,
  retryBaseMs,
  SESSION_LOST_CLOSE_CODES,
  socketFetchUrl,
  STABLE_CONNECTION_MS,
  WATCHDOG_MS,
} from "./protocol.ts";

export type GatewayStatus = "connecting" | "connected" | "resuming" | "backoff" | "stopped" | "failed";

export interface GatewayState {
  accountId: string | null;
  desired: "running" | "stopped";
  status: GatewayStatus;
  sessionId: string | null;
  // The last sequence number whose event was accepted (what a RESUME sends).
  seq: number | null;
  resumeUrl: string | null;
  lastHeartbeatAckAt: number | null;
  resumes: number;
  reconnects: number;
  identifies: number;
  lastCloseCode: number | null;
  lastError: string | null;
  // Reconnect attempts since the last stable connection (the backoff exponent).
  failures: number;
}

// What the admin API shows (no token, no session id: only whether one is held).
export interface GatewayView {
  account_id: string | null;
  status: GatewayStatus;
  desired: "running" | "stopped";
  has_session: boolean;
  seq: number | null;
  last_heartbeat_ack_at: string | null;
  heartbeat_interval_ms: number | null;
  resumes: number;
  reconnects: number;
  identifies: number;
  last_close_code: number | null;
  last_error: string | null;
  pending_events: number;
  // What the queued events hold (their messages, not Discord's payloads), bounded by MAX_PENDING_BYTES.
  pending_bytes: number;
}

export type GatewayStorage = Pick<DurableObjectStorage, "get" | "put" | "setAlarm" | "deleteAlarm">;

function initialState(): GatewayState {
  return { accountId: null, desired: "stopped", status: "stopped", sessionId: null, seq: null, resumeUrl: null, lastHeartbeatAckAt: null, resumes: 0, reconnects: 0, identifies: 0, lastCloseCode: null, lastError: null, failures: 0 };
}

// A configuration problem no retry fixes (a refused URL, a token Discord rejects).
class Fatal extends Error {}

export class GatewayRunner {
  private state: GatewayState = initialState();
  private conn: GatewayConnection | null = null;
  private connecting = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readyAt: number | null = null;
  // The event queue: a promise chain, its length, and the halt mark (events queued before a halt
  // are dropped; the resume after it brings them again from the last accepted seq).
  private chain: Promise<void> = Promise.resolve();
  private queued = 0;
  private pending = 0;
  private pendingBytes = 0;
  // The account as last read (connect, each accept): a MESSAGE_CREATE is turned into its small
  // InboundMessage on arrival with it, so the queue never holds Discord's payload.
  private account: AccountConfig | null = null;
  private skipThrough = 0;
  private readonly storage: GatewayStorage;
  private readonly env: Env;

  constructor(storage: GatewayStorage, env: Env) {
    this.storage = storage;
    this.env = env;
  }

  async load(): Promise<void> {
    this.state = { ...initialState(), ...((await this.storage.get<GatewayState>("state")) ?? {}) };
  }

  private async save(): Promise<void> {
    await this.storage.put("state", this.state);
  }

  view(): GatewayView {
    const s = this.state;
    return {
      account_id: s.accountId,
      status: s.status,
      desired: s.desired,
      has_session: s.sessionId !== null,
      seq: s.seq,
      last_heartbeat_ack_at: s.lastHeartbeatAckAt === null ? null : new Date(s.lastHeartbeatAckAt).toISOString(),
      heartbeat_interval_ms: this.conn?.heartbeatMs ?? null,
      resumes: s.resumes,
      reconnects: s.reconnects,
      identifies: s.identifies,
      last_close_code: s.lastCloseCode,
      last_error: s.lastError,
      pending_events: this.pending,
      pending_bytes: this.pendingBytes,
    };
  }

  // Idempotent: a running connection (or one being made, or waiting to be retried) is kept, so
  // a second start never opens a second socket.
  async start(accountId: string): Promise<GatewayView> {
    if (this.state.desired === "running" && (this.conn !== null || this.connecting || this.timer !== null)) return this.view();
    this.state = { ...this.state, accountId, desired: "running", status: "connecting", lastError: null, failures: 0 };
    await this.save();
    await this.storage.setAlarm(Date.now() + WATCHDOG_MS);
    void this.connect();
    return this.view();
  }

  async stop(reason: string | null = null): Promise<GatewayView> {
    this.state = { ...this.state, desired: "stopped", status: "stopped", lastError: reason ?? this.state.lastError };
    this.endAll("stopped");
    await this.save();
    await this.storage.deleteAlarm();
    return this.view();
  }

  // The watchdog: an evicted object (no socket in memory) reconnects; a revoked account or
  // tenant stops the connection even when no message arrives.
  async alarm(): Promise<void> {
    if (this.state.desired !== "running" || this.state.accountId === null) return;
    await this.storage.setAlarm(Date.now() + WATCHDOG_MS);
    if (!(await this.liveAccount())) return;
    if (this.conn === null && !this.connecting && this.timer === null) void this.connect();
  }

  // Closing with 1000 ends the session at Discord too: a stopped bot goes offline.
  private endAll(reason: string): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const conn = this.conn;
    this.conn = null;
    conn?.close({ reason, code: null, resumable: false }, 1000);
    this.state = { ...this.state, sessionId: null, resumeUrl: null, seq: null };
  }

  private async halt(status: "stopped" | "failed", reason: string): Promise<void> {
    console.warn(JSON.stringify({ level: "warn", msg: "discord gateway stopped", account: this.state.accountId, status, reason }));
    this.skipThrough = this.queued;
    this.state = { ...this.state, desired: "stopped", status, lastError: reason };
    this.endAll(reason);
    await this.save();
    await this.storage.deleteAlarm();
  }

  private async liveAccount(): Promise<VerifiableAccount | null> {
    const account = this.state.accountId === null ? null : await accountById(this.env, this.state.accountId);
    if (!account || account.channel !== "discord") {
      await this.halt("stopped", "the channel account is revoked or deleted");
      return null;
    }
    if ((await tenantStatus(this.env, account.tenantId)) !== "live") {
      await this.halt("stopped", "the tenant is revoked");
      return null;
    }
    return account;
  }

  private async connect(): Promise<void> {
    if (this.conn !== null || this.connecting || this.state.desired !== "running") return;
    this.connecting = true;
    try {
      const account = await this.liveAccount();
      if (!account) return;
      this.account = publicAccount(account);
      const token = await resolveSecret(this.env, account.tenantId, account.tokenRef, "DISCORD_");
      if (!token.ok) {
        if (token.code === "vault_unavailable") return void (await this.retry(`bot token: ${token.message}`));
        return void (await this.halt("failed", `bot token: ${token.message}`));
      }
      const s = this.state;
      const resume = s.sessionId !== null && s.resumeUrl !== null ? { sessionId: s.sessionId, seq: s.seq } : null;
      const target = socketFetchUrl(this.env, resume ? (s.resumeUrl as string) : await this.gatewayUrl(account, token.value));
      if (!target.ok) {
        if (!resume) throw new Fatal(target.reason);
        // A resume URL the policy refuses came from the gateway: identify anew at the REST one.
        this.state = { ...this.state, sessionId: null, resumeUrl: null, seq: null };
        return void (await this.retry(target.reason));
      }
      const res = await fetch(target.url, { headers: { upgrade: "websocket" }, signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS), redirect: "manual" });
      const ws = res.webSocket;
      if (!ws) {
        await res.body?.cancel();
        return void (await this.retry(`the gateway answered HTTP ${res.status} instead of a WebSocket`));
      }
      ws.accept();
      if (this.state.desired !== "running") return void ws.close(1000, "stopped");
      const conn: GatewayConnection = new GatewayConnection(ws, { token: token.value, resume }, {
        dispatch: (t, seq, d) => this.onDispatch(conn, t, seq, d),
        ack: (at) => {
          if (conn === this.conn) this.state.lastHeartbeatAckAt = at;
        },
        ended: (end) => void this.onEnded(conn, end),
      });
      this.conn = conn;
      this.state = { ...this.state, status: resume ? "resuming" : "connecting" };
      await this.save();
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof Fatal) await this.halt("failed", reason);
      else await this.retry(`connect failed: ${reason}`);
    } finally {
      this.connecting = false;
    }
  }

  // GET /gateway/bot with the bot token, at the account's API base (checked by the outbound-URL
  // policy: the token goes there).
  private async gatewayUrl(account: VerifiableAccount, token: string): Promise<string> {
    const base = account.apiBaseUrl ?? DISCORD_API;
    const verdict = checkOutboundUrl(this.env, base);
    if (!verdict.ok) throw new Fatal(`api_base_url refused: ${verdict.reason}`);
    const res = await fetch(`${base}/gateway/bot`, { headers: { authorization: `Bot ${token}` }, signal: AbortSignal.timeout(CONNECT_TIMEOUT_MS), redirect: "manual" });
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new Fatal(`GET /gateway/bot answered ${res.status}: the bot token is refused`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`GET /gateway/bot answered ${res.status}`);
    }
    // Bounded like every platform answer (the base URL may be a tenant admin's server): too large
    // is a retried connect failure, never a read of the whole body.
    const parsed = gatewayBot.safeParse(await readPlatformJson(res));
    if (!parsed.success) throw new Error("GET /gateway/bot answer has no url");
    return parsed.data.url;
  }

  private async retry(reason: string, delayMs?: number): Promise<void> {
    if (this.state.desired !== "running") return;
    const delay = delayMs ?? backoffMs(this.state.failures, retryBaseMs(this.env));
    this.state = { ...this.state, failures: this.state.failures + 1, status: "backoff", lastError: reason };
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.connect();
    }, delay);
    await this.save();
  }

  private onDispatch(conn: GatewayConnection, t: string, s: number | null, d: unknown): void {
    // A socket we already left: its events come again on the resume.
    if (conn !== this.conn) return;
    if (t === "READY") {
      const ready = gatewayReady.safeParse(d);
      if (!ready.success) return conn.close({ reason: "READY without a session", code: null, resumable: false });
      this.readyAt = Date.now();
      this.state = { ...this.state, status: "connected", sessionId: ready.data.session_id, resumeUrl: ready.data.resume_gateway_url, seq: s, identifies: this.state.identifies + 1 };
      return void this.save();
    }
    if (t === "RESUMED") {
      this.readyAt = Date.now();
      this.state = { ...this.state, status: "connected", resumes: this.state.resumes + 1 };
      return void this.save();
    }
    if (t !== "MESSAGE_CREATE" || this.account === null) return;
    // Read now, so what waits is the bounded InboundMessage (or nothing but its seq, for an event
    // we ignore), never the payload; the account is checked again when it is accepted.
    const message = discordMessage(d, this.account, Date.now());
    const size = pendingSize(message);
    // Bounded by count and bytes: when the accept path falls this far behind, the socket is left
    // and resumed later from the last accepted event, instead of queueing without end.
    if (!pendingAdmits(this.pending, this.pendingBytes, size)) return conn.close({ reason: "too many events waiting for the accept path", code: null, resumable: true });
    const index = ++this.queued;
    const session = this.state.sessionId;
    this.pending++;
    this.pendingBytes += size;
    this.chain = this.chain
      .then(() => this.accept(index, session, s, message))
      .catch((err: unknown) => this.acceptFailed(err))
      .finally(() => {
        this.pending--;
        this.pendingBytes -= size;
      });
  }

  private async accept(index: number, session: string | null, s: number | null, message: InboundMessage | null): Promise<void> {
    if (index <= this.skipThrough) return;
    // A replay of an event already accepted (a resume that overlapped what was still queued) goes
    // through again: the message-id dedupe answers it as a duplicate. No skip by seq here, so a
    // gateway that numbers events wrongly can delay a resume but never drop a message.
    const account = await this.liveAccount();
    if (!account) return;
    this.account = publicAccount(account);
    if (message) {
      if (!(await accountIngressAllowed(this.env, account.id))) throw new Error("the account's ingress limit is exhausted; resuming later");
      const outcome = await deliverInbound(this.env, account, message);
      if (outcome.status === "tenant_revoked") return void (await this.halt("stopped", "the tenant is revoked"));
    }
    if (s !== null && session !== null && session === this.state.sessionId && (this.state.seq === null || s > this.state.seq)) {
      this.state.seq = s;
      await this.save();
    }
  }

  // An accept that threw (D1 or a session unreachable): the events queued behind it are dropped
  // and the connection resumed after a backoff, from the last accepted seq: nothing is skipped.
  private acceptFailed(err: unknown): void {
    const reason = `accept failed: ${err instanceof Error ? err.message : String(err)}`;
    this.skipThrough = this.queued;
    this.state.lastError = reason;
    this.conn?.close({ reason, code: null, resumable: true });
  }

  private async onEnded(conn: GatewayConnection, end: SocketEnd): Promise<void> {
    if (conn !== this.conn) return;
    this.conn = null;
    if (this.readyAt !== null && Date.now() - this.readyAt >= STABLE_CONNECTION_MS) this.state.failures = 0;
    this.readyAt = null;
    this.state = { ...this.state, lastCloseCode: end.code, lastError: end.reason };
    if (this.state.desired !== "running") {
      this.state.status = "stopped";
      return void (await this.save());
    }
    const fatal = end.code === null ? undefined : FATAL_CLOSE_CODES[end.code];
    if (fatal !== undefined) return void (await this.halt("failed", `closed with ${end.code}: ${fatal}`));
    if (!end.resumable || (end.code !== null && SESSION_LOST_CLOSE_CODES.has(end.code))) {
      this.state = { ...this.state, sessionId: null, resumeUrl: null, seq: null };
    }
    this.state.reconnects++;
    await this.retry(end.reason, end.delayMs);
  }
}
