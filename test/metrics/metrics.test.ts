// GET /metrics after real /v1 calls: the calls go through the Worker (fake upstream), their usage
// events through the real queue and consumer into D1 and its rollups; the scrape, parsed
// strictly, must count exactly the calls sent, with the tokens and cost D1 holds for them.
// Also the endpoint's auth: closed (503) without METRICS_TOKEN, 401 without or with a wrong token.
import { createExecutionContext, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { app } from "../../workers/app.ts";
import { BASE, chat, hello, makeTenant, uid, type TestTenant } from "../gateway/helpers.ts";
import { usageRowsFor } from "../usage/helpers.ts";
import { parsePrometheus, value } from "./prometheus.ts";

const TOKEN = "metrics-test-token-abcdefghijklmnop";

// token null: the Worker has no METRICS_TOKEN secret.
function scrape(headers: Record<string, string>, token: string | null = TOKEN): Promise<Response> {
  return Promise.resolve(app.fetch(new Request(`${BASE}/metrics`, { headers }), { ...env, METRICS_TOKEN: token ?? undefined }, createExecutionContext()));
}

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

describe("GET /metrics", () => {
  it("counts the /v1 calls sent: requests, errors, tokens, cost, latency and TTFT, equal to D1's rollups", { timeout: 60_000 }, async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = uid("req-metrics-json");
      ids.push(id);
      expect((await chat(t.key, { model: "house-model", ...hello }, { "x-request-id": id })).status).toBe(200);
    }
    const streamId = uid("req-metrics-stream");
    ids.push(streamId);
    const streamed = await SELF.fetch(`${BASE}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${t.key}`, "content-type": "application/json", "x-request-id": streamId },
      body: JSON.stringify({ ...hello, model: "house-model", stream: true, stream_options: { include_usage: true } }),
    });
    expect(streamed.status).toBe(200);
    await streamed.text();
    const failId = uid("req-metrics-400");
    ids.push(failId);
    const failed = await chat(t.key, { model: "fake-status-400", ...hello }, { "x-request-id": failId });
    expect(failed.status).toBe(400);

    const rows = (await Promise.all(ids.map((id) => usageRowsFor(id)))).flat();
    expect(rows).toHaveLength(5);

    const res = await scrape({ authorization: `Bearer ${TOKEN}` });
    expect(res.status).toBe(200);
    const families = parsePrometheus(await res.text());
    const house = { tenant: t.tenantId, model: "house-model", provider: "fake" };
    const houseRows = rows.filter((r) => r.model === "house-model");
    const sum = (of: typeof rows, f: (r: (typeof rows)[number]) => number) => of.reduce((k, r) => k + f(r), 0);
    expect(value(families, "edgeclaw_requests_total", house)).toBe(4);
    expect(value(families, "edgeclaw_input_tokens_total", house)).toBe(sum(houseRows, (r) => r.input_tokens));
    expect(value(families, "edgeclaw_output_tokens_total", house)).toBe(sum(houseRows, (r) => r.output_tokens));
    expect(value(families, "edgeclaw_input_tokens_total", house)).toBeGreaterThan(0);
    expect(value(families, "edgeclaw_cost_usd_total", house)).toBeCloseTo(sum(houseRows, (r) => r.cost_micro_usd) / 1e6, 12);
    expect(value(families, "edgeclaw_errors_total", { ...house })).toBeUndefined();
    const d = "edgeclaw_request_duration_seconds";
    expect(value(families, d, house, `${d}_count`)).toBe(4);
    expect(value(families, d, house, `${d}_sum`)).toBeCloseTo(sum(houseRows, (r) => r.latency_ms) / 1000, 6);
    const f = "edgeclaw_time_to_first_byte_seconds";
    expect(value(families, f, house, `${f}_count`)).toBe(houseRows.filter((r) => r.ttft_ms !== null).length);
    expect(value(families, f, house, `${f}_count`)).toBe(1);

    const fail = rows.find((r) => r.request_id === failId)!;
    const failLabels = { tenant: t.tenantId, model: "fake-status-400", provider: "fake" };
    expect(value(families, "edgeclaw_requests_total", failLabels)).toBe(1);
    expect(value(families, "edgeclaw_errors_total", { ...failLabels, class: fail.error_class! })).toBe(1);

    // The same numbers as D1's rollups, at every granularity.
    for (const granularity of ["minute", "hour", "day"]) {
      const r = await env.DB.prepare(
        "SELECT SUM(requests) AS requests, SUM(input_tokens) AS input, SUM(output_tokens) AS output, SUM(status_4xx) AS s4xx FROM usage_rollups WHERE granularity = ? AND tenant_id = ?",
      )
        .bind(granularity, t.tenantId)
        .first<{ requests: number; input: number; output: number; s4xx: number }>();
      expect(r).toEqual({
        requests: 5,
        input: value(families, "edgeclaw_input_tokens_total", house)! + value(families, "edgeclaw_input_tokens_total", failLabels)!,
        output: value(families, "edgeclaw_output_tokens_total", house)! + value(families, "edgeclaw_output_tokens_total", failLabels)!,
        s4xx: 1,
      });
    }
  });

  it("is closed (503) without METRICS_TOKEN, and 401 without a token or with a wrong one", async () => {
    const unset = await scrape({ authorization: `Bearer ${TOKEN}` }, null);
    expect(unset.status).toBe(503);
    expect(((await unset.json()) as { error: { code: string } }).error.code).toBe("metrics_disabled");
    // The deployed test Worker has no METRICS_TOKEN either.
    expect((await SELF.fetch(`${BASE}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(503);

    const missing = await scrape({});
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("missing_token");
    for (const wrong of [`${TOKEN}x`, TOKEN.slice(0, -1), "x", TOKEN.toUpperCase()]) {
      const res = await scrape({ authorization: `Bearer ${wrong}` });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_token");
    }
    // An API key of a tenant is no metrics token.
    expect((await scrape({ authorization: `Bearer ${t.key}` })).status).toBe(401);
  });
});
