// Queue messages (usage and audit events) leave an isolate in batches rather than one send per
// event: a send is an RPC to the Queues service, and one per model call is the largest part of
// what metering added to a request (measured with the router benchmark: docs/observability.md,
// "Cost"). Events are collected for up to LINGER_MS and sent with one sendBatch.
//
// Several events travel in one queue message, a pack (`{v: 1, kind: "pack", events: [...]}`, up
// to MAX_PACK_EVENTS events and MAX_PACK_BYTES): Queues bills each message's write, read and
// delete per 64 KB, and the consumer and the broker pay per message, so one message per event
// cost 50 times the operations a pack does. The consumer (consumer.ts) unpacks them; a message
// that is one bare event (from a Worker version before packs) is still read as before.
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

export const LINGER_MS = 25;
export const MAX_BATCH_MESSAGES = 100;
// Below Queues' 256 KB per sendBatch, leaving room for per-message overhead.
export const MAX_BATCH_BYTES = 200_000;
// A pack's bounds: one 64 KB billing unit when its events allow it (one larger event travels
// alone, within Queues' 128 KB per message), and few enough events that a consumer delivery
// (max_batch_size messages) stays a D1 batch of a few hundred statements.
export const MAX_PACK_EVENTS = 50;
export const MAX_PACK_BYTES = 60_000;
// The pack's own JSON around its events: {"v":1,"kind":"pack","events":[...]} and the commas.
const PACK_ENVELOPE_BYTES = 40;

export interface Pack {
  v: 1;
  kind: "pack";
  events: unknown[];
}

interface Pending {
  body: unknown;
  id: string;
}

class Buffer {
  readonly packs: Pending[][] = [];
  readonly packBytes: number[] = [];
  bytes = 0;
  sealed = false;

  get events(): number {
    return this.packs.reduce((n, p) => n + p.length, 0);
  }

  // Whether an event of `size` bytes joins the last pack (else it starts one).
  private joinsLast(size: number): boolean {
    const last = this.packs.length - 1;
    return last >= 0 && this.packs[last]!.length < MAX_PACK_EVENTS && this.packBytes[last]! + size + 1 <= MAX_PACK_BYTES;
  }

  // Whether an event of `size` bytes still fits this sendBatch.
  fits(size: number): boolean {
    if (this.joinsLast(size)) return this.bytes + size + 1 <= MAX_BATCH_BYTES;
    return this.packs.length < MAX_BATCH_MESSAGES && this.bytes + PACK_ENVELOPE_BYTES + size <= MAX_BATCH_BYTES;
  }

  add(item: Pending, size: number): void {
    if (this.joinsLast(size)) {
      const last = this.packs.length - 1;
      this.packs[last]!.push(item);
      this.packBytes[last]! += size + 1;
      this.bytes += size + 1;
    } else {
      this.packs.push([item]);
      this.packBytes.push(PACK_ENVELOPE_BYTES + size);
      this.bytes += PACK_ENVELOPE_BYTES + size;
    }
  }
}

type WaitUntil = (p: Promise<unknown>) => void;

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
  if (buffer.packs.length === 0) return;
  const messages = buffer.packs.map((items) => ({ body: { v: 1, kind: "pack", events: items.map((p) => p.body) } satisfies Pack, contentType: "json" as const }));
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
  const ids = buffer.packs.flat().slice(0, 20).map((p) => p.id);
  console.error(JSON.stringify({ msg: "queue messages not sent", count: buffer.events, messages: buffer.packs.length, ids, error: String(error) }));
}

// Adds one message. `id` only names the message in the log line of a failed send.
export function enqueue(queue: Queue<unknown>, waitUntil: WaitUntil, message: { body: unknown; id: string }): void {
  const size = utf8Length(JSON.stringify(message.body));
  let buffer = open.get(queue);
  if (buffer && !buffer.fits(size)) {
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
  buffer.add({ body: message.body, id: message.id }, size);
}
