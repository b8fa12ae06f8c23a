import { describe, expect, it } from "vitest";
import { call } from "./helpers.ts";

describe("health, request ids and unknown routes", () => {
  it("answers GET /health with a request id", async () => {
    const res = await call("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps a well-formed caller request id and replaces a malformed one", async () => {
    const kept = await call("GET", "/health", { headers: { "x-request-id": "trace-abc.123:xyz" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-abc.123:xyz");
    const replaced = await call("GET", "/health", { headers: { "x-request-id": "bad id with spaces" } });
    expect(replaced.headers.get("x-request-id")).not.toBe("bad id with spaces");
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("answers unknown /v1 routes in OpenAI's error shape with the overhead header", async () => {
    const res = await call("GET", "/v1/nothing-here");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: { message: "Unknown request URL: GET /v1/nothing-here", type: "invalid_request_error", param: null, code: "unknown_url" },
    });
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(res.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/); // present, milliseconds with 2 decimals
  });

  it("answers other unknown routes in the gateway's error shape", async () => {
    const res = await call("GET", "/nowhere");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: "Unknown request URL: GET /nowhere" } });
  });
});
