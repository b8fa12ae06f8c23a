// Issue 10, item 10: upstream answers are read under size caps (UPSTREAM_MAX_RESPONSE_BYTES,
// default 16 MiB, for a JSON body or a whole stream; UPSTREAM_MAX_EVENT_BYTES, default 1 MiB, for
// one SSE event). Past them the gateway stops reading and answers 502 upstream_response_too_large
// (or, once a stream is under way, ends it with an error event of that code). The fake upstream
// sends 17 MiB bodies and SSE events that never end.
import { describe, expect, it } from "vitest";
import { chat, makeTenant, uid } from "../gateway/helpers.ts";
import { ask, setConfig } from "./helpers.ts";

const t = await makeTenant();
const name = uid("size");
await setConfig(t, {
  routes: Object.fromEntries(
    ["fake-huge-body", "fake-huge-length", "fake-endless-event", "fake-endless-late", "fake-huge-stream"].map((m) => [`${name}-${m}`, { tree: { type: "target", provider: "fake", model: m }, retry: { attempts: 1, base_ms: 1, max_ms: 10, budget_ms: 20_000 } }]),
  ),
});
const model = (m: string) => `${name}-${m}`;

// Megabytes through the Worker on a shared CPU: generous test timeouts, not timing claims.
describe("upstream answer size caps", { timeout: 60_000 }, () => {
  it("refuses a 17 MiB JSON answer sent chunked with 502 upstream_response_too_large", async () => {
    const res = await chat(t.key, { model: model("fake-huge-body"), ...ask() });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_response_too_large");
  });

  it("refuses one announced by its Content-Length without reading it", async () => {
    const res = await chat(t.key, { model: model("fake-huge-length"), ...ask() });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_response_too_large");
    expect(res.body.error.message).toContain("bytes exceeds");
  });

  it("refuses a stream whose first event never ends with 502 before streaming anything", async () => {
    const res = await chat(t.key, { model: model("fake-endless-event"), ...ask(), stream: true });
    expect(res.status).toBe(502);
    expect(res.body.error.code).toBe("upstream_response_too_large");
  });

  it("ends a stream with an upstream_response_too_large error event when a later event never ends", async () => {
    const res = await chat(t.key, { model: model("fake-endless-late"), ...ask(), stream: true });
    expect(res.status).toBe(200);
    const events = (res.body as string).split("\n\n").filter((e) => e.startsWith("data: {")).map((e) => JSON.parse(e.slice(6)));
    expect(events[0].choices[0].delta.role).toBe("assistant");
    expect(events.at(-1)).toMatchObject({ error: { code: "upstream_response_too_large" } });
  });

  it("ends a stream of many events past the total cap with the same error event", async () => {
    const res = await chat(t.key, { model: model("fake-huge-stream"), ...ask(), stream: true });
    expect(res.status).toBe(200);
    const body = res.body as string;
    expect(body.length).toBeLessThan(17 * 1024 * 1024);
    const last = body.trimEnd().split("\n\n").at(-1) as string;
    expect(JSON.parse(last.slice(6))).toMatchObject({ error: { code: "upstream_response_too_large" } });
    expect(body).not.toContain("[DONE]");
  });
});
