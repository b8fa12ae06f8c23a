// Calls one upstream through its adapter and turns every way that can fail into the gateway's
// error statuses: unreachable or broken -> 502, too slow -> 504, rate limited -> 429 (with the
// upstream's Retry-After), a request the upstream finds invalid -> 400/413 with its message.
// Upstream credential problems are the gateway's, not the client's: they answer 502.
import type { ChatCompletionResponse } from "../../schema/openai.ts";
import { ApiError } from "../http/errors.ts";
import type { GatewayTiming } from "../http/timing.ts";
import { mapRequest } from "./providers/map-request.ts";
import type { MapContext, ProviderAdapter } from "./providers/types.ts";
import { relaySse } from "./sse.ts";

export interface UpstreamCall {
  adapter: ProviderAdapter;
  ctx: MapContext;
  timeoutMs: number;
  requestId: string;
  timing: GatewayTiming;
}

// Upstream error bodies are read only this far: enough for a message, bounded for memory.
const MAX_ERROR_BODY = 16 * 1024;

export async function completeUpstream(call: UpstreamCall): Promise<ChatCompletionResponse> {
  const deadline = new Deadline(call.timeoutMs);
  try {
    return await call.timing.upstream(async () => {
      const response = await send(call, deadline, false);
      let text: string;
      try {
        text = await response.text();
      } catch {
        throw deadline.expired ? timeoutError(call.timeoutMs) : badResponse("the body could not be read");
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw badResponse("the body is not JSON");
      }
      const answer = call.adapter.toResponse(json, call.ctx);
      if (!answer) throw badResponse("the body is not a chat completion");
      return answer;
    });
  } finally {
    deadline.clear();
  }
}

export async function streamUpstream(call: UpstreamCall): Promise<ReadableStream<Uint8Array>> {
  const deadline = new Deadline(call.timeoutMs);
  try {
    const response = await call.timing.upstream(() => send(call, deadline, true));
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("text/event-stream") || !response.body) {
      response.body?.cancel().catch(() => {});
      throw badResponse("a stream was asked for but the answer is not text/event-stream");
    }
    // From here the per-chunk idle timeout in the relay takes over from the header deadline.
    return relaySse(response.body, {
      transform: call.adapter.toStreamChunks,
      idleTimeoutMs: call.timeoutMs,
    });
  } finally {
    deadline.clear();
  }
}

async function send(call: UpstreamCall, deadline: Deadline, stream: boolean): Promise<Response> {
  const { adapter, ctx } = call;
  const body = mapRequest(adapter, ctx);
  let response: Response;
  try {
    response = await fetch(adapter.chatUrl(ctx.target.baseUrl), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: stream ? "text/event-stream" : "application/json",
        "x-request-id": call.requestId,
        ...adapter.headers(ctx.target),
      },
      body: JSON.stringify(body),
      signal: deadline.signal,
    });
  } catch {
    if (deadline.expired) throw timeoutError(call.timeoutMs);
    throw new ApiError(502, "upstream_unreachable", "The upstream provider could not be reached.");
  }
  if (response.ok) return response;
  throw await upstreamStatusError(adapter, response, deadline, call.timeoutMs);
}

async function upstreamStatusError(
  adapter: ProviderAdapter,
  response: Response,
  deadline: Deadline,
  timeoutMs: number,
): Promise<ApiError> {
  const status = response.status;
  const detail = await readErrorMessage(adapter, response);
  if (deadline.expired) return timeoutError(timeoutMs);
  const suffix = detail ? `: ${detail}` : ".";
  if (status === 400 || status === 422) {
    return new ApiError(400, "upstream_rejected_request", `The upstream rejected the request${suffix}`);
  }
  if (status === 413) {
    return new ApiError(413, "upstream_request_too_large", `The upstream found the request too large${suffix}`);
  }
  if (status === 429) {
    const retryAfter = response.headers.get("retry-after");
    return new ApiError(429, "upstream_rate_limited", `The upstream is rate limiting requests${suffix}`, {
      headers: retryAfter && /^[0-9A-Za-z ,:]{1,64}$/.test(retryAfter) ? { "retry-after": retryAfter } : {},
    });
  }
  if (status === 408 || status === 504) return timeoutError(timeoutMs);
  if (status === 401 || status === 403) {
    // The client's key was fine; the gateway's credential for this provider was not. The
    // upstream's message is not relayed: it may describe the credential.
    return new ApiError(502, "upstream_auth_failed", "The upstream refused the gateway's credentials.");
  }
  return new ApiError(502, "upstream_error", `The upstream answered HTTP ${status}${suffix}`);
}

async function readErrorMessage(adapter: ProviderAdapter, response: Response): Promise<string | undefined> {
  try {
    const text = (await response.text()).slice(0, MAX_ERROR_BODY);
    const message = adapter.errorMessage(JSON.parse(text));
    return message?.slice(0, 500);
  } catch {
    return undefined;
  }
}

function timeoutError(timeoutMs: number): ApiError {
  return new ApiError(504, "upstream_timeout", `The upstream did not answer within ${timeoutMs} ms.`);
}

function badResponse(why: string): ApiError {
  return new ApiError(502, "upstream_bad_response", `The upstream sent an unusable answer: ${why}.`);
}

// One timer that aborts the upstream fetch (headers and, for non-stream, the body).
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: ReturnType<typeof setTimeout>;
  expired = false;

  constructor(ms: number) {
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, ms);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
