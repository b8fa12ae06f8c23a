// One Gateway WebSocket from HELLO to its end: heartbeats (first one after interval x jitter, as
// Discord asks), ACK tracking (a heartbeat still unacknowledged when the next is due means a
// zombie connection: closed and resumed), IDENTIFY or RESUME after HELLO, and the server's
// RECONNECT / INVALID_SESSION requests. What to do next (resume, identify, stop) is the runner's
// (./runner.ts): this class only reports how the socket ended, exactly once.
import { gatewayFrame, gatewayHello } from "../../../schema/discord-gateway.ts";
import {
  clampHeartbeat,
  HELLO_TIMEOUT_MS,
  identifyPayload,
  invalidSessionDelayMs,
  MAX_EVENT_FRAME_CHARS,
  MAX_HANDSHAKE_FRAME_CHARS,
  Op,
  RESUMABLE_CLOSE,
  resumePayload,
} from "./protocol.ts";

export interface SocketEnd {
  // Why it ended, for the state the admin API shows.
  reason: string;
  // The close code Discord sent (null when we closed or the socket just dropped).
  code: number | null;
  // false: the session is gone; the next connection identifies anew.
  resumable: boolean;
  // Set when the protocol prescribes a wait (INVALID_SESSION: 1-5 s).
  delayMs?: number;
}

export interface ConnectionEvents {
  dispatch(t: string, s: number | null, d: unknown): void;
  ack(at: number): void;
  ended(end: SocketEnd): void;
}

export interface Handshake {
  token: string;
  // Present: RESUME this session from seq; absent: IDENTIFY.
  resume: { sessionId: string; seq: number | null } | null;
}

export class GatewayConnection {
  private heartbeatTimer: ReturnType<typeof setTimeout> | null = null;
  private helloTimer: ReturnType<typeof setTimeout> | null = null;
  private acked = true;
  private done = false;
  // READY or RESUMED seen: from then on frames are held to the smaller event limit.
  private ready = false;
  // Oversized frames dropped on this socket (logged at 1, 2, 4, 8...: a flood does not flood the log).
  private oversized = 0;
  // The last sequence number received: what each heartbeat carries.
  seq: number | null;
  heartbeatMs: number | null = null;
  readonly openedAt = Date.now();

  private readonly ws: WebSocket;
  private readonly handshake: Handshake;
  private readonly events: ConnectionEvents;

  constructor(ws: WebSocket, handshake: Handshake, events: ConnectionEvents) {
    this.ws = ws;
    this.handshake = handshake;
    this.events = events;
    this.seq = handshake.resume?.seq ?? null;
    ws.addEventListener("message", (ev) => this.onFrame(ev.data));
    ws.addEventListener("close", (ev) => this.end({ reason: `closed by the gateway (${ev.code}${ev.reason ? `: ${ev.reason.slice(0, 200)}` : ""})`, code: ev.code, resumable: true }, false));
    ws.addEventListener("error", () => this.end({ reason: "socket error", code: null, resumable: true }, true));
    this.helloTimer = setTimeout(() => this.end({ reason: "no HELLO from the gateway", code: null, resumable: true }, true), HELLO_TIMEOUT_MS);
  }

  // Ends the connection from our side. code 1000 ends the session at Discord too (a stop);
  // RESUMABLE_CLOSE keeps it resumable.
  close(end: SocketEnd, code = RESUMABLE_CLOSE): void {
    this.end(end, true, code);
  }

  get ended(): boolean {
    return this.done;
  }

  private send(payload: unknown): void {
    try {
      this.ws.send(JSON.stringify(payload));
    } catch {
      this.end({ reason: "send on a closed socket", code: null, resumable: true }, true);
    }
  }

  private onFrame(data: unknown): void {
    if (this.done) return;
    // Binary frames (compression, ETF) were not asked for; an oversized frame is not read.
    if (typeof data !== "string") return;
    if (data.length > (this.ready ? MAX_EVENT_FRAME_CHARS : MAX_HANDSHAKE_FRAME_CHARS)) {
      this.oversized++;
      if ((this.oversized & (this.oversized - 1)) === 0) {
        console.warn(JSON.stringify({ level: "warn", msg: "discord gateway frame too large, dropped", chars: data.length, dropped: this.oversized }));
      }
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch {
      return;
    }
    const frame = gatewayFrame.safeParse(json);
    if (!frame.success) return;
    const { op, d, s, t } = frame.data;
    if (op === Op.DISPATCH) {
      if (typeof s === "number") this.seq = s;
      if (t === "READY" || t === "RESUMED") this.ready = true;
      if (typeof t === "string") this.events.dispatch(t, s ?? null, d);
      return;
    }
    if (op === Op.HELLO) return this.onHello(d);
    if (op === Op.HEARTBEAT_ACK) {
      this.acked = true;
      this.events.ack(Date.now());
      return;
    }
    // The gateway may ask for a heartbeat right away; it does not move the schedule.
    if (op === Op.HEARTBEAT) return this.send({ op: Op.HEARTBEAT, d: this.seq });
    if (op === Op.RECONNECT) return this.close({ reason: "the gateway asked to reconnect (op 7)", code: null, resumable: true });
    if (op === Op.INVALID_SESSION) {
      const resumable = d === true;
      this.close({ reason: `invalid session (op 9, ${resumable ? "resumable" : "not resumable"})`, code: null, resumable, ...(resumable ? {} : { delayMs: invalidSessionDelayMs() }) });
    }
  }

  private onHello(d: unknown): void {
    const hello = gatewayHello.safeParse(d);
    if (!hello.success || this.heartbeatMs !== null) return;
    if (this.helloTimer) clearTimeout(this.helloTimer);
    this.helloTimer = null;
    const interval = clampHeartbeat(hello.data.heartbeat_interval);
    this.heartbeatMs = interval;
    this.heartbeatTimer = setTimeout(() => this.beat(), Math.round(interval * Math.random()));
    const { token, resume } = this.handshake;
    this.send(resume ? resumePayload(token, resume.sessionId, resume.seq) : identifyPayload(token));
  }

  private beat(): void {
    if (this.done) return;
    if (!this.acked) return this.close({ reason: "heartbeat not acknowledged (zombie connection)", code: null, resumable: true });
    this.acked = false;
    this.send({ op: Op.HEARTBEAT, d: this.seq });
    this.heartbeatTimer = setTimeout(() => this.beat(), this.heartbeatMs as number);
  }

  private end(end: SocketEnd, closeSocket: boolean, code = RESUMABLE_CLOSE): void {
    if (this.done) return;
    this.done = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    if (this.helloTimer) clearTimeout(this.helloTimer);
    if (closeSocket) {
      try {
        this.ws.close(code, end.reason.slice(0, 100));
      } catch {
        // Already closed.
      }
    }
    this.events.ended(end);
  }
}
