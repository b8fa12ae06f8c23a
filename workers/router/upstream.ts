// One call to one upstream through its adapter, with every way it can fail turned into an
// UpstreamError: the gateway status the client would see (unreachable or broken -> 502, too
// slow -> 504, rate limited -> 429 with the upstream's Retry-After, a request the upstream finds
// invalid -> 400/413 with its message) plus the error class the router decides fallbacks and
// retries on. The deadline counts to the first byte: response headers and, for a stream, its
// first bytes; after that only the idle gap between chunks is bounded, so long streams are not cut.
import type { ErrorClass } from "../../schema/route-config.ts";
import type { ChatCompletionResponse } from "../../schema/openai.ts";
import type { Env } from "../env.ts";
import { joinChunks, readUpTo } from "../http/bounded-read.ts";
import { ApiError } from "../http/errors.ts";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { GatewayTiming } from "../http/timing.ts";
import type { BoundOperation, OperationResponse } from "./operations/index.ts";
import { mapRequest } from "./providers/map-request.ts";
import type { MapContext, ProviderAdapter } from "./providers/types.ts";
import type { PrimedStream } from "./sse.ts";
import { Watchdog } from "./watchdog.ts";
import { recording, traceHeaders, withSpan, type Span } from "../observability/trace.ts";

export interface UpstreamCall {
  adapter: ProviderAdapter;
  // Another operation than chat: its url, body and answer replace the chat adapter's (headers
  // and error bodies stay the family's).
  op?: BoundOperation | null;
  ctx: MapContext;
  env: Env;
  // Wait for the first byte (headers, and a stream's first bytes).
  firstByteMs: number;
  // Wait between chunks afterwards (and for a non-stream body).
  idleMs: number;
  requestId: string;
  timing: GatewayTiming;
  // Size caps (settings(): UPSTREAM_MAX_RESPONSE_BYTES, UPSTREAM_MAX_EVENT_BYTES): the body of a
  // JSON answer, and the first event of a stream, which is read whole before the stream is taken.
  maxResponseBytes: number;
  maxEventBytes: number;
}

export class UpstreamError extends ApiError {
  readonly errorClass: ErrorClass | null;
  readonly retryAfterMs: number | null;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    errorClass: ErrorClass | null,
    options: { retryAfterMs?: number | null; headers?: Record<string, string> } = {},
  ) {
    super(status, code, message, { headers: options.headers });
    this.errorClass = errorClass;
    this.retryAfterMs = options.retryAfterMs ?? null;
  }
}

// Upstream error bodies are read only this far: enough for a message, bounded for memory.
const MAX_ERROR_BODY = 16 * 1024;

export function completeUpstream(call: UpstreamCall): Promise<{ answer: ChatCompletionResponse | OperationResponse; headers: Headers }> {
  return withSpan("gateway.upstream", "client", attemptAttributes(call, false), (span) => attempt(span, () => completeAttempt(call)));
}

async function completeAttempt(call: UpstreamCall): Promise<{ answer: ChatCompletionResponse | OperationResponse; headers: Headers }> {
  const deadline = new Deadline(call.firstByteMs);
  try {
    return await call.timing.upstream(async () => {
      const response = await send(call, deadline, false);
      deadline.restart(call.idleMs);
      let text: string;
      try {
        text = await readBounded(response, call.maxResponseBytes, deadline);
      } catch (err) {
        if (err instanceof UpstreamError) throw err;
        throw deadline.expired ? timeoutError(call.idleMs) : badResponse("the body could not be read", "connection");
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw badResponse("the body is not JSON");
      }
      const answer = call.op ? call.op.toResponse(json, call.ctx) : call.adapter.toResponse(json, call.ctx);
      if (!answer) throw badResponse(call.op ? "the body is not an answer to this operation" : "the body is not a chat completion");
      if ((answer.choices as { finish_reason?: unknown }[] | undefined)?.[0]?.finish_reason === "content_filter") {
        throw new UpstreamError(400, "content_policy_violation", "The upstream refused the request on content policy grounds.", "content_policy");
      }
      return { answer, headers: response.headers };
    });
  } finally {
    deadline.clear();
  }
}

// Opens a stream and waits for its first bytes, so a target that accepts the request but sends
// nothing (or drops at once) is still a failure the router may fall over from.
export function openStream(call: UpstreamCall): Promise<{ primed: PrimedStream; headers: Headers }> {
  return withSpan("gateway.upstream", "client", attemptAttributes(call, true), (span) => attempt(span, () => openAttempt(call)));
}

// One upstream attempt's span: to the whole JSON answer, or to a stream's first event (the relay
// has its own span). Its id is the `traceparent` parent the upstream sees.
function attemptAttributes(call: UpstreamCall, stream: boolean): Record<string, string | boolean> {
  if (!recording()) return {};
  const attrs: Record<string, string | boolean> = { "gen_ai.request.model": call.ctx.target.model, "edgeclaw.stream": stream };
  try {
    attrs["server.address"] = new URL(call.ctx.target.baseUrl).host;
  } catch {
    // a binding target (workers-ai) has no URL
  }
  return attrs;
}

async function attempt<T>(span: Span | null, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (span && err instanceof UpstreamError) {
      span.set("http.response.status_code", err.status).set("error.type", err.errorClass ?? err.code);
    }
    throw err;
  }
}

async function openAttempt(call: UpstreamCall): Promise<{ primed: PrimedStream; headers: Headers }> {
  const deadline = new Deadline(call.firstByteMs);
  try {
    return await call.timing.upstream(async () => {
      const response = await send(call, deadline, true);
      const type = response.headers.get("content-type") ?? "";
      if (!type.includes("text/event-stream") || !response.body) {
        response.body?.cancel().catch(() => {});
        throw badResponse("a stream was asked for but the answer is not text/event-stream");
      }
      const reader = response.body.getReader();
      const first = await readFirstEvent(reader, call, deadline);
      return { primed: { reader, first }, headers: response.headers };
    });
  } finally {
    deadline.clear();
  }
}

// Reads until the stream holds one whole event (or ends), so a stream whose first event never
// ends is still refused with a status (502 upstream_response_too_large) and may fall over,
// instead of being relayed until the cap cuts it. Usually that is the first read.
async function readFirstEvent(reader: ReadableStreamDefaultReader<Uint8Array>, call: UpstreamCall, deadline: Deadline): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // The last 3 characters read: with the next read's text, all a new boundary can start in.
  // Testing only that keeps a long first event sent in tiny reads linear (re-testing the whole
  // text on every read cost seconds of CPU for 1 MiB in 64-byte reads).
  let tail = "";
  const decoder = new TextDecoder();
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await deadline.race(reader.read());
    } catch {
      reader.cancel().catch(() => {});
      throw deadline.expired ? timeoutError(call.firstByteMs) : badResponse("the stream broke before its first byte", "connection");
    }
    if (next.done || !next.value) {
      if (size === 0) throw badResponse("the stream ended before its first byte", "connection");
      break;
    }
    chunks.push(next.value);
    size += next.value.byteLength;
    const probe = tail + decoder.decode(next.value, { stream: true });
    if (EVENT_END.test(probe)) break;
    tail = probe.slice(-3);
    if (size > call.maxEventBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge(`its first event exceeds ${call.maxEventBytes} bytes`);
    }
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : joinChunks({ chunks, size, over: false });
}

const EVENT_END = /\r\n\r\n|\n\n|\r\r/;

// The body as text, refused past `max` bytes: by its Content-Length when it has one (then read in
// one native call), else counted while it is read.
async function readBounded(response: Response, max: number, deadline: Deadline): Promise<string> {
  const length = response.headers.get("content-length");
  if (length !== null && Number(length) > max) {
    response.body?.cancel().catch(() => {});
    throw tooLarge(`its body of ${length} bytes exceeds ${max}`);
  }
  if (length !== null || !response.body) return response.text();
  const read = await readUpTo(response.body, max, (r) => deadline.race(r));
  if (read.over) throw tooLarge(`its body exceeds ${max} bytes`);
  return new TextDecoder().decode(joinChunks(read));
}

// Not a health signal (nor worth a retry: the same request gets the same answer), so no
// error class: the client gets the 502.
function tooLarge(why: string): UpstreamError {
  return new UpstreamError(502, "upstream_response_too_large", `The upstream's answer is too large: ${why}.`, null);
}

async function send(call: UpstreamCall, deadline: Deadline, stream: boolean): Promise<Response> {
  const { adapter, ctx, op } = call;
  const body = op ? op.body(ctx) : mapRequest(adapter, ctx);
  const binding = op ? op.send : adapter.send;
  let response: Response;
  try {
    response = binding
      ? await deadline.race(binding(body, ctx, call.env, deadline.signal))
      : await fetch(op ? op.url(ctx.target.baseUrl) : adapter.chatUrl(ctx.target.baseUrl), {
          method: "POST",
          headers: {
            "content-type": "application/json",
            accept: stream ? "text/event-stream" : "application/json",
            "x-request-id": call.requestId,
            // W3C trace context: the upstream's spans (the gpu-backend's) join this attempt's.
            ...traceHeaders(),
            ...adapter.headers(ctx.target),
          },
          body: JSON.stringify(body),
          signal: deadline.signal,
          // The URL passed the outbound-URL policy and the provider row; a redirect would lead
          // (with the credential) wherever the upstream says. A 3xx is an upstream error.
          redirect: "manual",
        });
  } catch {
    if (deadline.expired) throw timeoutError(call.firstByteMs);
    throw new UpstreamError(502, "upstream_unreachable", "The upstream provider could not be reached.", "connection");
  }
  if (response.ok) return response;
  throw await upstreamStatusError(adapter, response, deadline, call.firstByteMs);
}

const CONTEXT_LENGTH = /context_length_exceeded|context length|context window|prompt is too long|maximum context|too many tokens/i;
const CONTENT_POLICY = /content_policy|content_filter|content management policy|safety system/i;

async function upstreamStatusError(
  adapter: ProviderAdapter,
  response: Response,
  deadline: Deadline,
  timeoutMs: number,
): Promise<UpstreamError> {
  const status = response.status;
  const { message: detail, code } = await readError(adapter, response);
  if (deadline.expired) return timeoutError(timeoutMs);
  const suffix = detail ? `: ${detail}` : ".";
  if (status === 400 || status === 422 || status === 413) {
    const said = `${code ?? ""} ${detail ?? ""}`;
    if (CONTEXT_LENGTH.test(said)) {
      return new UpstreamError(400, "context_length_exceeded", `The request does not fit the model's context${suffix}`, "context_length");
    }
    if (CONTENT_POLICY.test(said)) {
      return new UpstreamError(400, "content_policy_violation", `The upstream refused the request on content policy grounds${suffix}`, "content_policy");
    }
    if (status === 413) {
      return new UpstreamError(413, "upstream_request_too_large", `The upstream found the request too large${suffix}`, null);
    }
    return new UpstreamError(400, "upstream_rejected_request", `The upstream rejected the request${suffix}`, null);
  }
  if (status === 429) {
    const retryAfter = response.headers.get("retry-after");
    const safe = retryAfter && /^[0-9A-Za-z ,:]{1,64}$/.test(retryAfter) ? retryAfter : null;
    return new UpstreamError(429, "upstream_rate_limited", `The upstream is rate limiting requests${suffix}`, "rate_limited", {
      headers: safe ? { "retry-after": safe } : {},
      retryAfterMs: parseRetryAfter(safe),
    });
  }
  if (status === 408 || status === 504) return timeoutError(timeoutMs);
  if (status === 401 || status === 403) {
    // The client's key was fine; the gateway's credential for this provider was not. The
    // upstream's message is not relayed: it may describe the credential.
    return new UpstreamError(502, "upstream_auth_failed", "The upstream refused the gateway's credentials.", null);
  }
  return new UpstreamError(502, "upstream_error", `The upstream answered HTTP ${status}${suffix}`, status >= 500 ? "server_error" : null);
}

// Retry-After is either seconds or an HTTP date.
function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : null;
}

async function readError(adapter: ProviderAdapter, response: Response): Promise<{ message?: string; code?: string }> {
  try {
    const body: unknown = JSON.parse(await readPrefix(response, MAX_ERROR_BODY));
    return { message: adapter.errorMessage(body)?.slice(0, 500), code: adapter.errorCode?.(body)?.slice(0, 100) };
  } catch {
    return {};
  }
}

// At most the first `max` bytes of a body (the rest is never read).
async function readPrefix(response: Response, max: number): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  while (size < max) {
    const { done, value } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value.byteLength > max - size ? value.subarray(0, max - size) : value, { stream: true });
    size += value.byteLength;
  }
  reader.cancel().catch(() => {});
  return text + decoder.decode();
}

function timeoutError(timeoutMs: number): UpstreamError {
  return new UpstreamError(504, "upstream_timeout", `The upstream did not answer within ${timeoutMs} ms.`, "timeout");
}

function badResponse(why: string, errorClass: ErrorClass = "server_error"): UpstreamError {
  return new UpstreamError(502, "upstream_bad_response", `The upstream sent an unusable answer: ${why}.`, errorClass);
}

// Aborts the upstream call when its current phase (first byte, then each body read) runs out;
// one timer for all phases (watchdog.ts).
class Deadline {
  private readonly controller = new AbortController();
  private readonly dog = new Watchdog(() => {
    this.expired = true;
    this.controller.abort();
    for (const reject of this.rejectRace) reject(new Error("deadline"));
  });
  private rejectRace: ((err: Error) => void)[] = [];
  expired = false;

  constructor(ms: number) {
    this.dog.set(ms);
  }

  restart(ms: number): void {
    this.dog.set(ms);
  }

  // For waits the abort signal does not reach (a stream read, a binding call).
  race<T>(work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.expired) return reject(new Error("deadline"));
      this.rejectRace.push(reject);
      work.then(resolve, reject);
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  clear(): void {
    this.dog.stop();
    this.rejectRace = [];
  }
}
