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
// events are lost, as they would be if their own send failed. A failed sendBatch is logged with
// the ids it carried; the call it meters has already been answered and is not failed by it.

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

type WaitUntil = (p: Promise<unknown>) => void;

// One open buffer per queue binding per isolate. Bindings are looked up per event, so a Worker
// (or a test) whose env changes gets a buffer of its own.
const open = new WeakMap<Queue<unknown>, Buffer>();

async function flush(queue: Queue<unknown>, buffer: Buffer, label: string): Promise<void> {
  if (buffer.sealed) return;
  buffer.sealed = true;
  if (open.get(queue) === buffer) open.delete(queue);
  if (buffer.items.length === 0) return;
  try {
    await queue.sendBatch(buffer.items.map((p) => ({ body: p.body, contentType: "json" as const })));
  } catch (err) {
    console.error(JSON.stringify({ msg: `${label} not sent`, count: buffer.items.length, ids: buffer.items.slice(0, 20).map((p) => p.id), error: String(err) }));
  }
}

// Adds one message (its JSON size must be known: size is the caller's JSON.stringify length or an
// upper bound of it). `id` only names the message in the log line of a failed send.
export function enqueue(queue: Queue<unknown>, waitUntil: WaitUntil, message: { body: unknown; id: string; size: number }, label: string): void {
  let buffer = open.get(queue);
  if (buffer && (buffer.items.length >= MAX_BATCH_MESSAGES || buffer.bytes + message.size > MAX_BATCH_BYTES)) {
    // Full: whoever filled it sends it now, under its own waitUntil.
    waitUntil(flush(queue, buffer, label));
    buffer = undefined;
  }
  if (!buffer) {
    const fresh = new Buffer();
    open.set(queue, fresh);
    buffer = fresh;
    waitUntil(new Promise<void>((resolve) => setTimeout(resolve, LINGER_MS)).then(() => flush(queue, fresh, label)));
  }
  buffer.items.push({ body: message.body, id: message.id });
  buffer.bytes += message.size;
}
