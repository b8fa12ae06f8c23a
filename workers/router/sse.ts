// Relays an upstream Server-Sent Events body to the client event by event, as each one arrives:
// nothing is buffered beyond the event being assembled. The relay is pull-driven, so a slow
// client slows the upstream read (backpressure) and a client that goes away cancels it.
// If the upstream stalls or breaks mid-stream, the client gets a final OpenAI-shaped error event
// instead of a silently truncated stream.

export type ChunkTransform = (data: string, event: string | undefined) => string[];

export interface RelayOptions {
  transform: ChunkTransform;
  // Longest wait for the next upstream bytes before giving up with an error event.
  idleTimeoutMs: number;
}

export interface SseEvent {
  event?: string;
  data?: string;
  // The event block as received, without its terminating blank line.
  raw: string;
}

const BOUNDARY = /\r\n\r\n|\n\n|\r\r/;

// Splits buffered text into complete events; returns them and the unfinished remainder.
export function splitEvents(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  let rest = buffer;
  for (;;) {
    const match = BOUNDARY.exec(rest);
    if (!match) break;
    const block = rest.slice(0, match.index);
    rest = rest.slice(match.index + match[0].length);
    if (block.length > 0) events.push(parseEvent(block));
  }
  return { events, rest };
}

export function parseEvent(block: string): SseEvent {
  const data: string[] = [];
  let event: string | undefined;
  for (const line of block.split(/\r\n|\n|\r/)) {
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") data.push(value);
    else if (field === "event") event = value;
  }
  return { event, data: data.length > 0 ? data.join("\n") : undefined, raw: block };
}

export function errorEvent(code: string, message: string): string {
  const body = { error: { message, type: "upstream_error", param: null, code } };
  return `data: ${JSON.stringify(body)}\n\n`;
}

class IdleTimeout extends Error {}

export function relaySse(
  upstream: ReadableStream<Uint8Array>,
  options: RelayOptions,
): ReadableStream<Uint8Array> {
  const reader = upstream.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let buffer = "";

  const render = (ev: SseEvent): string => {
    if (ev.data === undefined) return `${ev.raw}\n\n`; // comments, keep-alives, retry hints
    if (ev.data === "[DONE]") return "data: [DONE]\n\n";
    return options.transform(ev.data, ev.event).map((d) => `data: ${d}\n\n`).join("");
  };

  const readWithIdleTimeout = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const idle = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new IdleTimeout()), options.idleTimeoutMs);
    });
    try {
      return await Promise.race([reader.read(), idle]);
    } finally {
      clearTimeout(timer);
    }
  };

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Keep reading until at least one whole event can be sent, so each pull makes progress.
        for (;;) {
          const { done, value } = await readWithIdleTimeout();
          if (done) {
            buffer += decoder.decode();
            const tail = buffer.trim().length > 0 ? render(parseEvent(buffer.trim())) : "";
            if (tail) controller.enqueue(encoder.encode(tail));
            controller.close();
            return;
          }
          buffer += decoder.decode(value, { stream: true });
          const { events, rest } = splitEvents(buffer);
          buffer = rest;
          const out = events.map(render).join("");
          if (out) {
            controller.enqueue(encoder.encode(out));
            return;
          }
        }
      } catch (err) {
        const stalled = err instanceof IdleTimeout;
        reader.cancel().catch(() => {});
        controller.enqueue(
          encoder.encode(
            errorEvent(
              stalled ? "upstream_timeout" : "upstream_stream_error",
              stalled
                ? `The upstream sent nothing for ${options.idleTimeoutMs} ms; the stream was closed.`
                : "The upstream connection failed mid-stream.",
            ),
          ),
        );
        controller.close();
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
