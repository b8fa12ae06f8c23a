// Queue messages (usage and audit events) leave an isolate in batches rather than one send per
// event: a send is an RPC to the Queues service, and one per model call is the largest part of
// what metering added to a request (measured with the router benchmark: docs/observability.md,
// "Cost"). Events are collected for up to LINGER_MS and sent with one sendBatch.
//
// Who flushes: the request (or Durable Object event) that opens a buffer owns it. It arms the
// timer in its own context and hands the flush to its own waitUntil, so the runtime keeps that
// invocation alive until the batch is sent, and no request ever waits on a promise another
// request resolves (Workers do not allow I/O across request contexts). Later events in the same
// isolate only append to the open buffer; their own response does not wait for anything. A full
// buffer (Queues' sendBatch limits: 100 messages, 256 KB) is flushed at once by the request that
// filled it, and the next event opens a new one.
//
// What this trades: an event waits up to LINGER_MS in isolate memory before it is sent. If the
// isolate dies in that window (a crash, not an eviction: waitUntil holds eviction off), those
// events are lost, as they would be if their own send failed. A failed sendBatch is tried once
// more, then logged with the ids it carried (a batch mixes usage and audit events of any tenant);
// the work it records has already been done and is not failed by it.

import type { WaitUntil } from "../http/after-response.ts";

export const LINGER_MS = 25;
export const MAX_BATCH_MESSAGES = 100;
// Below Queues' 256 KB per sendBatch, leaving room for per-message overhead.
export const MAX_BATCH_BYTES = 200_000;

interface Pending {
  body: unknown;
  id: string;
}

class Buffer {
  readonly items: Pending[] = [];
  bytes = 0;
  sealed = false;
}


// One open buffer per queue binding per isolate. Bindings are looked up per event, so a Worker
// (or a test) whose env changes gets a buffer of its own.
const open = new WeakMap<Queue<unknown>, Buffer>();

// Queues counts bytes; JSON.stringify's length counts UTF-16 units, which undercounts any text
// outside ASCII (a tenant's model or route name). The UTF-8 length, without encoding a copy.
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      n += 4; // a surrogate pair: one 4-byte code point
      i++;
    } else n += 3;
  }
  return n;
}

const RETRY_DELAY_MS = 200;

async function flush(queue: Queue<unknown>, buffer: Buffer): Promise<void> {
  if (buffer.sealed) return;
  buffer.sealed = true;
  if (open.get(queue) === buffer) open.delete(queue);
  if (buffer.items.length === 0) return;
  const messages = buffer.items.map((p) => ({ body: p.body, contentType: "json" as const }));
  let error: unknown;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await queue.sendBatch(messages);
      return;
    } catch (err) {
      error = err;
      if (attempt === 0) await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
  console.error(JSON.stringify({ msg: "queue messages not sent", count: buffer.items.length, ids: buffer.items.slice(0, 20).map((p) => p.id), error: String(error) }));
}

// Adds one message. `id` only names the message in the log line of a failed send.
export function enqueue(queue: Queue<unknown>, waitUntil: WaitUntil, message: { body: unknown; id: string }): void {
  const size = utf8Length(JSON.stringify(message.body));
  let buffer = open.get(queue);
  if (buffer && (buffer.items.length >= MAX_BATCH_MESSAGES || buffer.bytes + size > MAX_BATCH_BYTES)) {
    // Full: whoever filled it sends it now, under its own waitUntil.
    waitUntil(flush(queue, buffer));
    buffer = undefined;
  }
  if (!buffer) {
    const fresh = new Buffer();
    open.set(queue, fresh);
    buffer = fresh;
    waitUntil(new Promise<void>((resolve) => setTimeout(resolve, LINGER_MS)).then(() => flush(queue, fresh)));
  }
  buffer.items.push({ body: message.body, id: message.id });
  buffer.bytes += size;
}
