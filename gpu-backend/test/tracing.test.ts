// OTLP/HTTP JSON spans of /v1 requests, received by a local OTLP receiver (a plain HTTP server that
// keeps what the collector's /v1/traces endpoint would get): the request's SERVER span is a child
// of the caller's traceparent span, the phases (prepare, queue_wait, prompt_eval, generation) are
// its children and lie inside it, in order, for real generations with the tiny model.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { parseTraceparent } from "../src/tracing/traceparent.ts";
import { parseOtlpHeaders, tracesUrl } from "../src/tracing/setup.ts";
import { startBackend, tinyModel, user, waitFor, type Backend } from "./helpers.ts";

type OtlpValue = { stringValue?: string; intValue?: string; doubleValue?: number; boolValue?: boolean; arrayValue?: { values: OtlpValue[] } };
type OtlpSpan = {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  startTimeUnixNano: string; endTimeUnixNano: string; attributes: { key: string; value: OtlpValue }[]; status: { code: number; message?: string };
};
type Received = { path: string; contentType: string | undefined; headers: IncomingMessage["headers"]; resource: Record<string, unknown>; spans: OtlpSpan[] };

/** A local OTLP receiver; `answer` decides the response to each export (or holds it forever). */
async function otlpReceiver(answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, r) => r.writeHead(200, { "content-type": "application/json" }).end("{}")) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { resourceSpans: { resource: { attributes: { key: string; value: OtlpValue }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of body.resourceSpans) {
        received.push({
          path: req.url ?? "", contentType: req.headers["content-type"], headers: req.headers,
          resource: Object.fromEntries(rs.resource.attributes.map((a) => [a.key, plain(a.value)])),
          spans: rs.scopeSpans.flatMap((s) => s.spans),
        });
      }
      answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, received, spans: () => received.flatMap((r) => r.spans), close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

function plain(v: OtlpValue): unknown {
  if (v.arrayValue) return v.arrayValue.values.map(plain);
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.doubleValue ?? v.boolValue);
}
const attrs = (s: OtlpSpan) => Object.fromEntries(s.attributes.map((a) => [a.key, plain(a.value)]));
const ns = (s: string) => BigInt(s);

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const traceparent = (traceId = TRACE_ID, parent = PARENT_ID, flags = "01") => `00-${traceId}-${parent}-${flags}`;
const randomHex = (n: number) => Array.from({ length: n }, () => "0123456789abcdef"[Math.floor(Math.random() * 16)]).join("");

/** The spans of one trace, once its SERVER span (the last to end) has arrived. */
async function traceSpans(receiver: Awaited<ReturnType<typeof otlpReceiver>>, traceId: string, parent: string | undefined, count: number): Promise<OtlpSpan[]> {
  await waitFor(() => receiver.spans().filter((s) => s.traceId === traceId).length >= count, 20_000, `${count} spans of trace ${traceId}`);
  const spans = receiver.spans().filter((s) => s.traceId === traceId);
  expect(spans).toHaveLength(count);
  const server = spans.filter((s) => s.kind === 2);
  expect(server).toHaveLength(1);
  expect(server[0]!.parentSpanId).toBe(parent);
  return spans;
}

/** Checks the tree: every other span a child of the server span, inside it, phases in order. */
function checkTree(spans: OtlpSpan[], phases: string[]) {
  const server = spans.find((s) => s.kind === 2)!;
  const children = spans.filter((s) => s !== server);
  expect(children.map((s) => s.name).sort()).toEqual([...phases].sort());
  const byName = new Map(children.map((s) => [s.name, s]));
  for (const c of children) {
    expect(c.kind).toBe(1);
    expect(c.parentSpanId).toBe(server.spanId);
    expect(c.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(c.spanId).not.toBe(server.spanId);
    expect(ns(c.startTimeUnixNano) >= ns(server.startTimeUnixNano)).toBe(true);
    expect(ns(c.endTimeUnixNano) <= ns(server.endTimeUnixNano)).toBe(true);
    expect(ns(c.startTimeUnixNano) <= ns(c.endTimeUnixNano)).toBe(true);
  }
  // Each phase starts where the one before it ended.
  for (let i = 1; i < phases.length; i++) {
    expect(byName.get(phases[i]!)!.startTimeUnixNano).toBe(byName.get(phases[i - 1]!)!.endTimeUnixNano);
  }
  // Wall-clock times, not an arbitrary origin: within a minute of now.
  expect(Math.abs(Number(ns(server.startTimeUnixNano) / 1_000_000n) - Date.now())).toBeLessThan(60_000);
  return { server, byName };
}

const GENERATION = ["prepare", "queue_wait", "prompt_eval", "generation"];

describe("OTLP spans of /v1 requests", () => {
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let b: Backend;
  beforeAll(async () => {
    receiver = await otlpReceiver();
    b = await startBackend({
      MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "2", CONTEXT_SIZE: "512",
      OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`, OTEL_BSP_SCHEDULE_DELAY: "20",
      OTEL_SERVICE_NAME: "gpu-test", OTEL_EXPORTER_OTLP_HEADERS: "x-collector-key=abc%20123,x-tenant=t1",
    });
  });
  afterAll(async () => {
    await b?.close();
    await receiver?.close();
  });

  it("a chat completion: the server span is the caller's child, the four phases its children, in order", async () => {
    const r = await b.client.chat.completions.create({ model: "tiny", messages: user("trace me"), max_tokens: 6, temperature: 0 }, { headers: { traceparent: traceparent() } });
    const spans = await traceSpans(receiver, TRACE_ID, PARENT_ID, 5);
    const { server, byName } = checkTree(spans, GENERATION);
    expect(server.name).toBe("POST /v1/chat/completions");
    expect(attrs(server)).toMatchObject({
      "http.request.method": "POST", "http.route": "/v1/chat/completions", "http.response.status_code": 200,
      "gen_ai.operation.name": "chat", "gen_ai.request.model": "tiny",
      "gen_ai.usage.input_tokens": r.usage!.prompt_tokens, "gen_ai.usage.output_tokens": 6, "gen_ai.response.finish_reasons": ["length"],
    });
    expect(server.status.code).toBe(0);
    expect(attrs(byName.get("generation")!)).toMatchObject({ "gen_ai.usage.output_tokens": 6, "edgeclaw.outcome": "length" });
    expect(attrs(byName.get("prompt_eval")!)).toMatchObject({ "gen_ai.usage.input_tokens": r.usage!.prompt_tokens });
    expect(attrs(byName.get("queue_wait")!)).toMatchObject({ "edgeclaw.queue.ahead": 0 });

    // The export itself: OTLP/HTTP JSON to <endpoint>/v1/traces, with the configured headers and resource.
    const batch = receiver.received.find((x) => x.spans.includes(server))!;
    expect(batch.path).toBe("/v1/traces");
    expect(batch.contentType).toBe("application/json");
    expect(batch.headers["x-collector-key"]).toBe("abc 123");
    expect(batch.headers["x-tenant"]).toBe("t1");
    expect(batch.resource["service.name"]).toBe("gpu-test");
  });

  it("a stream: the server span stays open until the generation ends, after the response headers", async () => {
    const traceId = randomHex(32);
    const parent = randomHex(16);
    const stream = await b.client.chat.completions.create(
      { model: "tiny", messages: user("stream and trace"), max_tokens: 12, stream: true, stream_options: { include_usage: true } },
      { headers: { traceparent: traceparent(traceId, parent) } },
    );
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    const { server, byName } = checkTree(await traceSpans(receiver, traceId, parent, 5), GENERATION);
    expect(attrs(server)["gen_ai.usage.output_tokens"]).toBe(usage!.completion_tokens);
    expect(ns(server.endTimeUnixNano) >= ns(byName.get("generation")!.endTimeUnixNano)).toBe(true);
  });

  it("/v1/completions and /v1/embeddings trace their own phases", async () => {
    const t1 = randomHex(32);
    await b.client.completions.create({ model: "tiny", prompt: "raw prompt", max_tokens: 4 }, { headers: { traceparent: traceparent(t1) } });
    const completion = checkTree(await traceSpans(receiver, t1, PARENT_ID, 5), GENERATION);
    expect(completion.server.name).toBe("POST /v1/completions");
    expect(attrs(completion.server)["gen_ai.operation.name"]).toBe("text_completion");

    const t2 = randomHex(32);
    await b.client.embeddings.create({ model: "tiny", input: ["one", "two"] }, { headers: { traceparent: traceparent(t2) } });
    const embedding = checkTree(await traceSpans(receiver, t2, PARENT_ID, 4), ["prepare", "queue_wait", "embedding"]);
    expect(embedding.server.name).toBe("POST /v1/embeddings");
    expect(attrs(embedding.byName.get("embedding")!)).toMatchObject({ "edgeclaw.embedding.inputs": 2 });
  });

  it("no traceparent or an invalid one starts a new trace; the sampled flag off records nothing", async () => {
    const before = new Set(receiver.spans().map((s) => s.traceId));
    const invalid = [
      traceparent(TRACE_ID.toUpperCase()), // uppercase hex
      traceparent("0".repeat(32)), // all-zero trace id
      traceparent(TRACE_ID, "0".repeat(16)), // all-zero parent
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff
      `${traceparent()},${traceparent()}`, // two headers joined
    ];
    for (const header of [undefined, ...invalid]) {
      await b.client.chat.completions.create({ model: "tiny", messages: user("new trace"), max_tokens: 2 }, header ? { headers: { traceparent: header } } : {});
    }
    const unsampled = randomHex(32);
    await b.client.chat.completions.create({ model: "tiny", messages: user("not sampled"), max_tokens: 2 }, { headers: { traceparent: traceparent(unsampled, PARENT_ID, "00") } });
    const marker = randomHex(32);
    expect((await fetch(`${b.base}/models`, { headers: { traceparent: traceparent(marker) } })).status).toBe(200);
    // Spans leave in order: once the last request's arrived, the others have too.
    await waitFor(() => receiver.spans().some((s) => s.traceId === marker), 20_000, "the marker trace");
    const fresh = receiver.spans().filter((s) => !before.has(s.traceId) && s.traceId !== marker && s.kind === 2);
    expect(fresh).toHaveLength(1 + invalid.length);
    for (const s of fresh) {
      expect(s.parentSpanId).toBeUndefined();
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.traceId).not.toBe(TRACE_ID);
    }
    expect(new Set(fresh.map((s) => s.traceId)).size).toBe(fresh.length);
    expect(receiver.spans().some((s) => s.traceId === unsampled)).toBe(false);
    const models = receiver.spans().find((s) => s.traceId === marker)!;
    expect(models.name).toBe("GET /v1/models");
  });

  it("counts exported spans on /metrics", async () => {
    const text = await (await fetch(`${b.url}/metrics`)).text();
    const exported = Number(text.match(/^edgeclaw_trace_spans_exported_total (\d+)$/m)?.[1]);
    expect(exported).toBeGreaterThanOrEqual(5 + 5 + 5 + 4);
    expect(text).toMatch(/^edgeclaw_trace_spans_dropped_total 0$/m);
  });
});

describe("a collector that fails or never answers", () => {
  it("never fails or holds a request: spans are dropped and counted, the buffer stays bounded", async () => {
    // The collector takes every export and never answers.
    const hanging = await otlpReceiver(() => undefined);
    const b = await startBackend({
      MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "2", CONTEXT_SIZE: "512",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${hanging.url}/custom/traces`, OTEL_BSP_SCHEDULE_DELAY: "10",
      OTEL_BSP_MAX_QUEUE_SIZE: "8", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "4", OTEL_EXPORTER_OTLP_TIMEOUT: "60000",
    });
    try {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) =>
        b.client.chat.completions.create({ model: "tiny", messages: user(`hold ${i}`), max_tokens: 3 }, { headers: { traceparent: traceparent(randomHex(32)) } })));
      expect(answers.map((a) => a.choices[0]!.finish_reason)).toEqual(Array(6).fill("length"));
      // The first batch is stuck at the collector (signal-specific URL used as given), one POST at
      // a time, and at most 8 more spans wait: 30 spans made, so at least 30 - 4 - 8 were dropped.
      await waitFor(() => hanging.received.length === 1, 10_000, "the first export");
      expect(hanging.received[0]!.path).toBe("/custom/traces");
      const text = await (await fetch(`${b.url}/metrics`)).text();
      expect(Number(text.match(/^edgeclaw_trace_spans_dropped_total (\d+)$/m)?.[1])).toBeGreaterThanOrEqual(30 - 4 - 8);
      expect(hanging.received).toHaveLength(1);
    } finally {
      // Shutdown waits for the export at most its timeout; the hanging collector is closed first.
      await hanging.close();
      await b.close();
    }
  });

  it("an unreachable or erroring collector drops and counts, and the requests succeed", async () => {
    const failing = await otlpReceiver((_q, r) => r.writeHead(503).end());
    const b = await startBackend({ MODEL: await tinyModel("never"), MODEL_ID: "tiny", SLOTS: "1", CONTEXT_SIZE: "512", OTEL_EXPORTER_OTLP_ENDPOINT: failing.url, OTEL_BSP_SCHEDULE_DELAY: "10" });
    try {
      const r = await b.client.chat.completions.create({ model: "tiny", messages: user("collector down"), max_tokens: 3 });
      expect(r.choices[0]!.finish_reason).toBe("length");
      // The request's 5 spans went to the collector, which refused them: all 5 dropped.
      await waitFor(() => b.metrics.traceSpans.dropped >= 5, 10_000, "5 dropped spans");
      const text = await (await fetch(`${b.url}/metrics`)).text();
      expect(text).toMatch(/^edgeclaw_trace_spans_dropped_total 5$/m);
      expect(text).toMatch(/^edgeclaw_trace_spans_exported_total 0$/m);
      expect(failing.received.flatMap((x) => x.spans)).toHaveLength(5);
    } finally {
      await b.close();
      await failing.close();
    }
  });
});

describe("traceparent parsing", () => {
  it("accepts version 00 exactly and later versions with extra fields; refuses the rest", () => {
    expect(parseTraceparent(traceparent())).toEqual({ traceId: TRACE_ID, spanId: PARENT_ID, sampled: true });
    expect(parseTraceparent(traceparent(TRACE_ID, PARENT_ID, "00"))?.sampled).toBe(false);
    expect(parseTraceparent(traceparent(TRACE_ID, PARENT_ID, "03"))?.sampled).toBe(true);
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-holds`)).toMatchObject({ traceId: TRACE_ID });
    expect(parseTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01x`)).toBeUndefined();
    expect(parseTraceparent(`${traceparent()}-extra`)).toBeUndefined(); // version 00 has no room for more
    expect(parseTraceparent(traceparent().slice(0, 54))).toBeUndefined();
    expect(parseTraceparent(traceparent(TRACE_ID, PARENT_ID, "0g"))).toBeUndefined();
    expect(parseTraceparent(traceparent().replace(/-/g, "_"))).toBeUndefined();
    expect(parseTraceparent(undefined)).toBeUndefined();
    expect(parseTraceparent("")).toBeUndefined();
  });
});

describe("tracing configuration", () => {
  it("builds the traces URL from OpenTelemetry's variables and refuses what it cannot honour", async () => {
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).toBe("http://c:4318/v1/traces");
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318/base/" })).toBe("http://c:4318/base/v1/traces");
    expect(tracesUrl({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://t/x" })).toBe("https://t/x");
    expect(tracesUrl({})).toBeUndefined();
    expect(parseOtlpHeaders("a=1, b = two%2Cthree ,")).toEqual({ a: "1", b: "two,three" });
    for (const bad of ["noequals", "=v", "bad key=v", "k=%0Aevil", "k=%zz"]) expect(() => parseOtlpHeaders(bad)).toThrow(ConfigError);
    // The value of a refused header (a credential, usually) is never echoed.
    expect(() => parseOtlpHeaders("authorization=Bearer%0Asecret-value")).toThrow(/^(?!.*secret-value)/);

    await expect(loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).rejects.toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL: only http\/json/);
    await expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: "ftp://c" })).rejects.toThrow(ConfigError);
    expect((await loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" })).OTEL_EXPORTER_OTLP_PROTOCOL).toBe("http/json");
    const cfg = await loadConfig({ PORT: "0", OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1", OTEL_EXPORTER_OTLP_HEADERS: "x=%ZZ" });
    await expect(startServer(cfg)).rejects.toThrow(ConfigError);
  });
});
