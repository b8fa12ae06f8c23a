// The OTLP exporter never holds up or fails a request: a collector that never answers, one that
// refuses the connection, and an endpoint the outbound-URL policy refuses all leave the answer as
// it is. Its settings parse as the OpenTelemetry variables say.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { makeTenant, type TestTenant } from "../gateway/helpers.ts";
import type { Env } from "../../workers/env.ts";
import { exportTarget, otlpBody, parseHeaders } from "../../workers/observability/otlp.ts";
import { direct, parts, PARENT } from "./helpers.ts";

let tenant: TestTenant;

beforeAll(async () => {
  tenant = await makeTenant();
});

function ask(traceId: string): RequestInit {
  return {
    method: "POST",
    headers: { authorization: `Bearer ${tenant.key}`, "content-type": "application/json", traceparent: `00-${traceId}-${PARENT}-01` },
    body: JSON.stringify({ model: "fake-echo", messages: [{ role: "user", content: "hi" }] }),
  };
}

describe("OTLP exporter", () => {
  const cases: Record<string, () => Record<string, string>> = {
    "a collector that never answers": () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: env.FAKE_TARPIT_URL, OTEL_EXPORTER_OTLP_TIMEOUT: "200" }),
    "a collector that refuses connections": () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1" }),
    "an endpoint the outbound-URL policy refuses": () => ({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://169.254.169.254/otlp" }),
  };
  for (const [name, vars] of Object.entries(cases)) {
    it(`${name} leaves the answer as it is`, async () => {
      const traceId = crypto.randomUUID().replaceAll("-", "");
      const res = await direct("/v1/chat/completions", ask(traceId), vars());
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text).choices[0].message.content).toBe("echo: hi");
      expect(parts(res.headers.get("traceparent")).traceId).toBe(traceId);
    });
  }

  it("is off without an endpoint, appends /v1/traces to the base endpoint, takes the traces endpoint as it is, and refuses what the policy refuses", () => {
    const base = env as unknown as Env;
    expect(exportTarget({ ...base } as Env)).toBeNull();
    expect(exportTarget({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318/" } as Env)?.url).toBe("http://127.0.0.1:4318/v1/traces");
    expect(exportTarget({ ...base, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "https://otel.example.com/custom" } as Env)?.url).toBe("https://otel.example.com/custom");
    expect(exportTarget({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: "http://10.0.0.5:4318" } as Env)).toBeNull();
    expect(exportTarget({ ...base, OTEL_EXPORTER_OTLP_ENDPOINT: "https://metadata.internal" } as Env)).toBeNull();
  });

  it("reads OTEL_EXPORTER_OTLP_HEADERS as name=value pairs, percent-decoded, skipping malformed ones", () => {
    expect(parseHeaders("x-honeycomb-team=abc%20def, authorization=Basic%20dXNlcjpwYXNz ,bad,=x,na me=1,x-ok=%E0%A4%A")).toEqual({
      "x-honeycomb-team": "abc def",
      authorization: "Basic dXNlcjpwYXNz",
    });
    expect(parseHeaders(undefined)).toEqual({});
  });

  it("encodes spans as OTLP JSON: hex ids, nanosecond strings, numeric kinds, typed attributes", () => {
    const body = otlpBody(
      [
        {
          traceId: "0af7651916cd43dd8448eb211c80319c",
          spanId: "b7ad6b7169203331",
          parentSpanId: null,
          name: "gateway.request",
          kind: "server",
          startMs: 1_700_000_000_000,
          endMs: 1_700_000_000_012,
          attributes: { a: "x", n: 3, f: 1.5, b: true },
          error: "HTTP 502",
        },
      ],
      "svc",
      "eu",
    );
    const span = body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    expect(span).toMatchObject({
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      kind: 2,
      startTimeUnixNano: "1700000000000000000",
      endTimeUnixNano: "1700000000012000000",
      status: { code: 2, message: "HTTP 502" },
    });
    expect(span).not.toHaveProperty("parentSpanId");
    expect(span.attributes).toEqual([
      { key: "a", value: { stringValue: "x" } },
      { key: "n", value: { intValue: "3" } },
      { key: "f", value: { doubleValue: 1.5 } },
      { key: "b", value: { boolValue: true } },
    ]);
    expect(body.resourceSpans[0]!.resource.attributes).toContainEqual({ key: "service.name", value: { stringValue: "svc" } });
    expect(body.resourceSpans[0]!.resource.attributes).toContainEqual({ key: "cloud.region", value: { stringValue: "eu" } });
  });
});
