// Stored responses behind POST /v1/responses, through the official `openai` client: chains of
// previous_response_id, GET and DELETE (and the ?stream=true replay), store: false, tenant
// isolation, the key's scope, and the ResponseStore's bounds (eviction, expiry by alarm, records
// larger than a SQLite row, chain limits and truncation).
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "../../workers/http/errors.ts";
import { conversationBefore, saveResponse } from "../../workers/api/responses/store.ts";
import { call, makeTenant, openaiClient, recordedUpstreamRequest, uid, type TestTenant } from "./helpers.ts";

let t: TestTenant;
let other: TestTenant;
let client: OpenAI;

const clientFor = openaiClient;

// Headers that make the fake record the upstream request under a known id.
const traced = () => {
  const id = uid("req-resp");
  return { id, options: { headers: { "x-request-id": id } } };
};

beforeAll(async () => {
  t = await makeTenant();
  other = await makeTenant();
  client = clientFor(t.key);
});

describe("stored responses", () => {
  it("chains previous_response_id: each link's input and output, newest instructions only", async () => {
    const r1 = await client.responses.create({ model: "fake-echo", instructions: "old rules", input: "first" });
    const r2 = await client.responses.create({ model: "fake-echo", previous_response_id: r1.id, input: [{ role: "user", content: "second" }] });
    const { id, options } = traced();
    const r3 = await client.responses.create({ model: "fake-echo", previous_response_id: r2.id, instructions: "new rules", input: "third" }, options);
    expect(r3.output_text).toBe("echo: third");
    expect((await recordedUpstreamRequest(id)).body.messages).toEqual([
      { role: "system", content: "new rules" },
      { role: "user", content: "first" },
      { role: "assistant", content: "echo: first" },
      { role: "user", content: "second" },
      { role: "assistant", content: "echo: second" },
      { role: "user", content: "third" },
    ]);
  });

  it("GET returns the stored Response; DELETE removes it", async () => {
    const created = await client.responses.create({ model: "fake-echo", input: "keep me", metadata: { k: "v" } });
    const got = await client.responses.retrieve(created.id);
    expect(got).toEqual(created);
    const raw = await call("DELETE", `/v1/responses/${created.id}`, { bearer: t.key });
    expect(raw.status).toBe(200);
    expect(raw.body).toEqual({ id: created.id, object: "response.deleted", deleted: true });
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model: "fake-echo", previous_response_id: created.id, input: "more" })).rejects.toMatchObject({
      status: 400,
      code: "previous_response_not_found",
      param: "previous_response_id",
    });
  });

  it("replays a stored response as events with GET ?stream=true", async () => {
    const created = await client.responses.create({ model: "fake-echo", input: "replay" });
    const replay = client.responses.stream({ response_id: created.id });
    const final = await replay.finalResponse();
    expect(final.output_text).toBe("echo: replay");
    expect(final.id).toBe(created.id);
  });

  it("store: false keeps nothing", async () => {
    const created = await client.responses.create({ model: "fake-echo", input: "forget me", store: false });
    expect((created as unknown as { store: boolean }).store).toBe(false);
    expect(created.output_text).toBe("echo: forget me");
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model: "fake-echo", previous_response_id: created.id, input: "more" })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const streamed = await client.responses.stream({ model: "fake-echo", input: "forget me too", store: false }).finalResponse();
    await expect(client.responses.retrieve(streamed.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it("keeps each tenant's responses to itself", async () => {
    const mine = await client.responses.create({ model: "fake-echo", input: "private" });
    const theirs = clientFor(other.key);
    await expect(theirs.responses.retrieve(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(theirs.responses.delete(mine.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(theirs.responses.create({ model: "fake-echo", previous_response_id: mine.id, input: "leak?" })).rejects.toMatchObject({ status: 400, code: "previous_response_not_found" });
    // Still there for its owner after the other tenant's delete.
    expect((await client.responses.retrieve(mine.id)).output_text).toBe("echo: private");
  });

  it("needs a key with chat:write, for reading as for writing", async () => {
    const created = await client.responses.create({ model: "fake-echo", input: "scoped" });
    const reader = await makeTenant({ scopes: ["models:read"] });
    const res = await call("GET", `/v1/responses/${created.id}`, { bearer: reader.key });
    expect(res.status).toBe(403);
    expect(res.body.error).toMatchObject({ type: "permission_error" });
  });
});

describe("bounds of the store", () => {
  const record = (id: string, prev: string | null, expiresAt: number, json = "{}") => ({ id, prev, createdAt: Date.now(), expiresAt, json });

  it("evicts the oldest responses past the tenant's limits, and purges expired ones", async () => {
    const stub = env.RESPONSES.get(env.RESPONSES.idFromName(`test:${uid()}`));
    const later = Date.now() + 3_600_000;
    for (const id of ["a", "b", "c"]) await stub.put(record(id, null, later, "x".repeat(10)), { maxBytes: 1_000, maxCount: 2 });
    expect(await stub.get("a")).toBeNull();
    expect(await stub.get("c")).toBe("x".repeat(10));
    await stub.put(record("big", null, later, "y".repeat(900)), { maxBytes: 915, maxCount: 10 });
    expect(await stub.usage()).toEqual({ bytes: 910, count: 2 });
    expect(await stub.get("b")).toBeNull();

    // Past its expiry: never served, and the alarm purges it.
    await stub.put(record("old", null, Date.now() - 1), { maxBytes: 10_000, maxCount: 10 });
    expect(await stub.get("old")).toBeNull();
    expect((await stub.usage()).count).toBe(3);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.usage()).toEqual({ bytes: 910, count: 2 });
  });

  it("stores records larger than one SQLite row", async () => {
    const stub = env.RESPONSES.get(env.RESPONSES.idFromName(`test:${uid()}`));
    const json = "é".repeat(1_500_000);
    await stub.put(record("large", null, Date.now() + 60_000, json), { maxBytes: 10_000_000, maxCount: 10 });
    expect(await stub.get("large")).toBe(json);
  });

  it("walks a chain within its limits: 400 unless truncation is auto, which keeps the newest links", async () => {
    const tenantId = uid("chain");
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const id = `resp_${String(i).padStart(48, "0")}`;
      const response = { id, object: "response", created_at: 0, previous_response_id: ids.at(-1) ?? null, output: [{ id: `msg_${i}`, type: "message", status: "completed", role: "assistant", content: [{ type: "output_text", text: `a${i}`, annotations: [], logprobs: [] }] }] };
      await saveResponse(env, tenantId, { response: response as never, input: [{ type: "message", role: "user", content: `q${i}` }] });
      ids.push(id);
    }
    const limits = { maxLinks: 2, maxBytes: 1_000_000 };
    await expect(conversationBefore(env, tenantId, ids[3]!, "disabled", limits)).rejects.toMatchObject({ status: 400, code: "context_length_exceeded" });
    const kept = await conversationBefore(env, tenantId, ids[3]!, "auto", limits);
    expect(kept.map((item) => (item.type === "message" ? (typeof item.content === "string" ? item.content : (item.content[0] as { text: string }).text) : item.type))).toEqual(["q2", "a2", "q3", "a3"]);
    const whole = await conversationBefore(env, tenantId, ids[3]!, "disabled");
    expect(whole).toHaveLength(8);
    await expect(conversationBefore(env, uid("other"), ids[3]!, "auto")).rejects.toBeInstanceOf(ApiError);
  });
});

