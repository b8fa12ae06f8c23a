// One /v1/chat/completions request, streamed, through `npm start`'s real stack (wrangler dev and
// the gpu-backend on a generated tiny model), both exporting OTLP/HTTP JSON to a small receiver in
// this test (a node:http server taking OTLP/HTTP JSON, any attribute value, arrays included): the
// request is ONE trace, the
// client's, holding the gateway's stages (request, auth, limits, cache, route, upstream attempt,
// stream relay) and the gpu-backend's SERVER span with its phases (queue_wait, prompt_eval,
// generation), the backend's SERVER span a child of the gateway's upstream attempt.
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readDevVars } from "../../scripts/dev-vars.ts";
import { parsePrometheus, type Family } from "../metrics/prometheus.ts";
import { freePort } from "../support/local-stack.ts";
import { cleanUp, ownerToken, prepare, start, stop, type Running, type StartDirs } from "../support/npm-start.ts";

let dirs: StartDirs | undefined;
let running: Running | undefined;
let receiver: Server | undefined;
let collector = "";

interface ReceivedSpan {
  service: string | null;
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Record<string, unknown>;
}
type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };
interface ExportRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: { spans?: (Omit<ReceivedSpan, "service" | "attributes" | "parentSpanId"> & { parentSpanId?: string; attributes?: KeyValue[] })[] }[];
  }[];
}

function valueOf(v: AnyValue): unknown {
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(valueOf);
  if (v.intValue !== undefined) return Number(v.intValue);
  return v.stringValue ?? v.doubleValue ?? v.boolValue ?? null;
}

function attributesOf(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));
}

const GATEWAY_STAGES = ["gateway.request", "gateway.auth", "gateway.limits", "gateway.cache", "gateway.route", "gateway.upstream", "gateway.stream_relay"];
const BACKEND_PHASES = ["queue_wait", "prompt_eval", "generation"];

// Every span received, flattened with its resource's service.name; and per POST, which service
// sent spans of which traces.
const received: ReceivedSpan[] = [];
const exports: { service: string | null; traces: Set<string> }[] = [];

function accept(body: ExportRequest): void {
  for (const r of body.resourceSpans ?? []) {
    const service = attributesOf(r.resource?.attributes)["service.name"];
    const sent = { service: typeof service === "string" ? service : null, traces: new Set<string>() };
    exports.push(sent);
    for (const ss of r.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        received.push({ ...s, service: sent.service, parentSpanId: s.parentSpanId || null, attributes: attributesOf(s.attributes) });
        sent.traces.add(s.traceId);
      }
    }
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces" || !(req.headers["content-type"] ?? "").startsWith("application/json")) {
        res.writeHead(404).end();
        return;
      }
      try {
        accept(JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest);
      } catch {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => receiver!.listen(port, "127.0.0.1", resolve));
  collector = `http://127.0.0.1:${port}`;

  dirs = await prepare("edgeclaw-trace-e2e-");
  // The gateway reads its vars from the secrets file npm start passes to wrangler dev (it adds the
  // generated secrets); the receiver is plain http on loopback, which the outbound-URL policy lets
  // through only when listed, so the gpu-backend and the receiver are both allowed here.
  writeFileSync(join(dirs.workDir, "dev.vars"), `OTEL_EXPORTER_OTLP_ENDPOINT=${collector}\nOUTBOUND_ALLOW_HOSTS=127.0.0.1\n`, { mode: 0o600 });
  // The gpu-backend reads the standard variables from its environment; its buffer is sent every
  // 100 ms instead of 5 s so the test does not wait.
  running = await start(dirs, { OTEL_EXPORTER_OTLP_ENDPOINT: collector, OTEL_BSP_SCHEDULE_DELAY: "100" });
});

afterAll(async () => {
  if (running) await stop(running);
  cleanUp(dirs);
  await new Promise<void>((resolve) => (receiver ? receiver.close(() => resolve()) : resolve()));
});

function traceOf(traceId: string): ReceivedSpan[] {
  return received.filter((s) => s.traceId === traceId);
}

// The trace as an indented tree with each span's service and duration (EDGECLAW_PRINT_TRACE=1
// prints it: the docs' trace tree comes from such a run).
function treeOf(spans: ReceivedSpan[]): string[] {
  const lines: string[] = [];
  const ids = new Set(spans.map((s) => s.spanId));
  const walk = (parent: string | null, depth: number) => {
    const children = spans.filter((s) => (parent === null ? s.parentSpanId === null || !ids.has(s.parentSpanId) : s.parentSpanId === parent));
    children.sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
    for (const s of children) {
      const ms = Number(BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1e6;
      lines.push(`${"   ".repeat(depth)}${s.name}  [${s.service}] ${ms.toFixed(1)} ms  span ${s.spanId}${depth === 0 ? ` parent ${s.parentSpanId}` : ""}`);
      walk(s.spanId, depth + 1);
    }
  };
  walk(null, 0);
  return lines;
}

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  expect(found, `exactly one ${name} span`).toHaveLength(1);
  return found[0] as ReceivedSpan;
}

describe("one request, one trace across the gateway and the gpu-backend", () => {
  it("holds every gateway stage and the backend's phases under the upstream attempt", async () => {
    const traceId = [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    const clientSpan = "00f067aa0ba902b7";
    const res = await fetch(`${running!.baseURL}/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${running!.apiKey}`, "content-type": "application/json", traceparent: `00-${traceId}-${clientSpan}-01` },
      body: JSON.stringify({ model: "default", messages: [{ role: "user", content: "Count" }], max_tokens: 6, stream: true, stream_options: { include_usage: true } }),
    });
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain("data: [DONE]");
    const answered = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.headers.get("traceparent") ?? "");
    expect(answered?.[1]).toBe(traceId);

    // Both exports arrive in the background: the gateway's after the stream's end, the
    // backend's on its next 100 ms tick.
    let spans: ReceivedSpan[] = [];
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      spans = traceOf(traceId);
      const names = new Set(spans.map((s) => s.name));
      if ([...GATEWAY_STAGES, ...BACKEND_PHASES].every((n) => names.has(n))) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    if (process.env.EDGECLAW_PRINT_TRACE) console.log(treeOf(spans).join("\n"));
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    const gateway = spans.filter((s) => s.service === "edgeclaw-gateway");
    const backend = spans.filter((s) => s.service === "edgeclaw-gpu-backend");
    expect(gateway.length + backend.length).toBe(spans.length);
    // The gateway sent the request's trace whole, in one export.
    expect(exports.filter((e) => e.service === "edgeclaw-gateway" && e.traces.has(traceId))).toHaveLength(1);

    const [request, auth, limits, cache, route, attempt, relay] = GATEWAY_STAGES.map((n) => one(gateway, n)) as ReceivedSpan[];
    expect(request!.parentSpanId).toBe(clientSpan);
    expect(request!.spanId).toBe(answered?.[2]);
    for (const child of [auth, limits, cache, route, relay]) expect(child!.parentSpanId).toBe(request!.spanId);
    expect(attempt!.parentSpanId).toBe(route!.spanId);
    expect(attempt!.attributes["server.address"]).toBe(`127.0.0.1:${dirs!.ports.gpu}`);
    expect(cache!.attributes["edgeclaw.cache.status"]).toBe("BYPASS");
    expect(relay!.attributes["edgeclaw.stream.completed"]).toBe(true);

    // The backend's SERVER span hangs under the gateway's upstream attempt; its phases under it.
    const server = one(backend, "POST /v1/chat/completions");
    expect(server.kind).toBe(2);
    expect(server.parentSpanId).toBe(attempt!.spanId);
    const phases = BACKEND_PHASES.map((n) => one(backend, n));
    for (const phase of phases) expect(phase.parentSpanId).toBe(server.spanId);
    // In order, and inside the attempt that waited for them (ns timestamps from two clocks on one host).
    expect(BigInt(phases[0]!.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(phases[1]!.startTimeUnixNano));
    expect(BigInt(phases[1]!.endTimeUnixNano)).toBeLessThanOrEqual(BigInt(phases[2]!.startTimeUnixNano));
    const generated = Number(phases[2]!.attributes["gen_ai.usage.output_tokens"]);
    expect(generated).toBeGreaterThan(0);
    expect(relay!.attributes["gen_ai.usage.output_tokens"]).toBe(generated);
  });

  // The same run, seen by an operator's scraper: the request above went through the usage queue
  // into D1's rollups, and GET /metrics (the METRICS_TOKEN npm start generated) counts it exactly as
  // the admin usage report does.
  it("GET /metrics counts the run's model calls as D1's usage report does", async () => {
    const token = readDevVars(join(dirs!.workDir, "dev.vars")).METRICS_TOKEN;
    expect(token).toBeTruthy();
    const origin = running!.baseURL.replace(/\/v1$/, "");
    const sum = (families: Map<string, Family>, name: string) =>
      (families.get(name)?.samples ?? []).filter((x) => x.name === name && x.labels.model === "default").reduce((n, x) => n + x.value, 0);
    let families = new Map<string, Family>();
    let text = "";
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      const res = await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      text = await res.text();
      families = parsePrometheus(text);
      if (sum(families, "edgeclaw_requests_total") >= 1) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    if (process.env.EDGECLAW_PRINT_TRACE) console.log(text.split("\n").filter((l) => !l.includes("_bucket{") || l.includes('le="+Inf"')).join("\n"));
    expect(sum(families, "edgeclaw_requests_total")).toBe(1);

    const day = 86_400_000;
    const from = Math.floor(Date.now() / day) * day - day;
    const report = await fetch(`${origin}/admin/usage?granularity=day&group_by=model&from=${from}&to=${from + 3 * day}`, {
      headers: { authorization: `Bearer ${ownerToken(dirs!)}` },
    });
    expect(report.status).toBe(200);
    const rows = ((await report.json()) as { data: { model: string; requests: number; input_tokens: number; output_tokens: number }[] }).data.filter((r) => r.model === "default");
    const total = (k: "requests" | "input_tokens" | "output_tokens") => rows.reduce((n, r) => n + r[k], 0);
    expect(total("requests")).toBe(1);
    expect(sum(families, "edgeclaw_input_tokens_total")).toBe(total("input_tokens"));
    expect(sum(families, "edgeclaw_output_tokens_total")).toBe(total("output_tokens"));
    expect(total("output_tokens")).toBeGreaterThan(0);
    // The unauthenticated scrape is refused.
    expect((await fetch(`${origin}/metrics`)).status).toBe(401);
  });
});
