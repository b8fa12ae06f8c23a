// Relays an upstream Server-Sent Events body to the client event by event, as each one arrives:
// nothing is buffered beyond the event being assembled. The relay is pull-driven, so a slow
// client slows the upstream read (backpressure) and a client that goes away cancels it.
// If the upstream stalls or breaks mid-stream, the client gets a final OpenAI-shaped error event
// instead of a silently truncated stream.
import { Watchdog } from "./watchdog.ts";

// `state` is one object per stream, for formats whose events refer to earlier ones (Anthropic's
// content block indexes); stateless transforms ignore it.
export type ChunkTransform = (data: string, event: string | undefined, state: Record<string, unknown>) => string[];

export interface RelayOptions {
  transform: ChunkTransform;
  // Longest wait for the next upstream bytes before giving up with an error event.
  idleTimeoutMs: number;
  // Longest event assembled (characters of the unfinished event), and most read from the
  // upstream in all; beyond either the stream ends with an upstream_response_too_large error
  // event. Defaults: 1 MiB and 16 MiB.
  maxEventBytes?: number;
  maxTotalBytes?: number;
  // Sees every rendered piece the client gets, then whether the stream ended cleanly (the
  // response cache records streams this way; usage is read from it).
  tap?: { chunk(text: string): void; end(completed: boolean): void };
}

// A stream whose first bytes were already read (to learn that the upstream really answers
// before the router commits to it) and the reader positioned after them.
export interface PrimedStream {
  reader: ReadableStreamDefaultReader<Uint8Array>;
  first: Uint8Array;
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

// Splitting for a translator that reads a stream itself: push each read's decoded text, get the
// events it completed. Only the new text and the 3 characters before it are searched for a
// boundary ("\r\n\r\n" may straddle two reads), so an event sent in many small reads stays
// linear, as in relaySse below; re-searching the whole unfinished event on every read is not.
export class SseSplitter {
  private buffer = "";
  private searchedTail = "";

  push(text: string): SseEvent[] {
    this.buffer += text;
    const probe = this.searchedTail + text;
    this.searchedTail = probe.slice(-3);
    if (!BOUNDARY.test(probe)) return [];
    const { events, rest } = splitEvents(this.buffer);
    this.buffer = rest;
    this.searchedTail = rest.slice(-3);
    return events;
  }

  // Characters of the unfinished event: what a caller bounds.
  get pendingLength(): number {
    return this.buffer.length;
  }

  // At the end of the stream: the last event, when it came without its blank line.
  end(): SseEvent | undefined {
    const rest = this.buffer.trim();
    this.buffer = "";
    this.searchedTail = "";
    return rest.length > 0 ? parseEvent(rest) : undefined;
  }
}

// Whether an event block holds a comment line (": keep-alive").
export function hasComment(ev: SseEvent): boolean {
  return ev.raw.startsWith(":") || ev.raw.includes("\n:") || ev.raw.includes("\r:");
}

function errorEvent(code: string, message: string): string {
  const body = { error: { message, type: "upstream_error", param: null, code } };
  return `data: ${JSON.stringify(body)}\n\n`;
}

class IdleTimeout extends Error {}
class TooLarge extends Error {}

export function relaySse(
  upstream: ReadableStream<Uint8Array> | PrimedStream,
  options: RelayOptions,
): ReadableStream<Uint8Array> {
  const reader = "reader" in upstream ? upstream.reader : upstream.getReader();
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const state: Record<string, unknown> = {};
  let buffer = "reader" in upstream ? decoder.decode(upstream.first, { stream: true }) : "";
  // The last 3 characters of the buffer, already searched for a boundary: with each read's text
  // they are all a new boundary can start in ("\r\n\r\n" may straddle two reads). Searching only
  // them keeps a long event sent in tiny reads linear: re-splitting the whole buffer on every read
  // cost 11 s of CPU for a 1 MiB event in 64-byte reads.
  let searchedTail = buffer.slice(-3);
  const maxEvent = options.maxEventBytes ?? 1024 * 1024;
  const maxTotal = options.maxTotalBytes ?? 16 * 1024 * 1024;
  let total = "reader" in upstream ? upstream.first.byteLength : 0;
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, text: string) => {
    options.tap?.chunk(text);
    controller.enqueue(encoder.encode(text));
  };

  const render = (ev: SseEvent): string => {
    if (ev.data === undefined) return `${ev.raw}\n\n`; // comments, keep-alives, retry hints
    if (ev.data === "[DONE]") return "data: [DONE]\n\n";
    return options.transform(ev.data, ev.event, state).map((d) => `data: ${d}\n\n`).join("");
  };

  // The idle limit runs only while a read waits (a client slow to pull is not the upstream's
  // fault); one watchdog serves every read of the stream.
  let rejectIdle: ((err: Error) => void) | null = null;
  const dog = new Watchdog(() => rejectIdle?.(new IdleTimeout()));
  const readWithIdleTimeout = () =>
    new Promise<ReadableStreamReadResult<Uint8Array>>((resolve, reject) => {
      rejectIdle = reject;
      dog.set(options.idleTimeoutMs);
      reader.read().then(
        (result) => {
          rejectIdle = null;
          dog.pause();
          resolve(result);
        },
        (err: unknown) => {
          rejectIdle = null;
          dog.pause();
          reject(err);
        },
      );
    });

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Events already in the buffer (the primed first bytes) go out before waiting for more.
        const ready = splitEvents(buffer);
        if (ready.events.length > 0) {
          buffer = ready.rest;
          searchedTail = buffer.slice(-3);
          const out = ready.events.map(render).join("");
          if (out) return emit(controller, out);
        }
        // Keep reading until at least one whole event can be sent, so each pull makes progress.
        for (;;) {
          const { done, value } = await readWithIdleTimeout();
          if (done) {
            buffer += decoder.decode();
            const tail = buffer.trim().length > 0 ? render(parseEvent(buffer.trim())) : "";
            if (tail) emit(controller, tail);
            dog.stop();
            options.tap?.end(true);
            controller.close();
            return;
          }
          total += value.byteLength;
          if (total > maxTotal) throw new TooLarge(`the stream exceeds ${maxTotal} bytes`);
          const text = decoder.decode(value, { stream: true });
          buffer += text;
          const probe = searchedTail + text;
          searchedTail = probe.slice(-3);
          if (!BOUNDARY.test(probe)) {
            if (buffer.length > maxEvent) throw new TooLarge(`an event exceeds ${maxEvent} bytes`);
            continue;
          }
          const { events, rest } = splitEvents(buffer);
          buffer = rest;
          searchedTail = rest.slice(-3);
          if (buffer.length > maxEvent) throw new TooLarge(`an event exceeds ${maxEvent} bytes`);
          const out = events.map(render).join("");
          if (out) {
            emit(controller, out);
            return;
          }
        }
      } catch (err) {
        dog.stop();
        const stalled = err instanceof IdleTimeout;
        reader.cancel().catch(() => {});
        // The tap sees the error event too (an agent's model call reports its message).
        const text =
          err instanceof TooLarge
            ? errorEvent("upstream_response_too_large", `The upstream's answer is too large: ${err.message}; the stream was closed.`)
            : errorEvent(
                stalled ? "upstream_timeout" : "upstream_stream_error",
                stalled
                  ? `The upstream sent nothing for ${options.idleTimeoutMs} ms; the stream was closed.`
                  : "The upstream connection failed mid-stream.",
              );
        try {
          options.tap?.chunk(text);
        } finally {
          options.tap?.end(false);
        }
        controller.enqueue(encoder.encode(text));
        controller.close();
      }
    },
    cancel(reason) {
      dog.stop();
      options.tap?.end(false);
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
