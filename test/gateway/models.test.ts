import OpenAI from "openai";
import { beforeAll, describe, expect, it } from "vitest";
import { makeRouterTenant, putConfig, setConfig, target } from "../router/helpers.ts";
import { admin, call, chat, expectStatus, FAKE_MODELS, makeTenant, openaiClient, uid, type TestTenant } from "./helpers.ts";

let t: TestTenant;
beforeAll(async () => {
  t = await makeTenant();
});

describe("GET /v1/models", () => {
  it("lists the tenant's enabled models in OpenAI's list shape", async () => {
    const res = await call("GET", "/v1/models", { bearer: t.key });
    expect(res.status).toBe(200);
    expect(res.body.object).toBe("list");
    expect(res.body.data.map((m: { id: string }) => m.id).sort()).toEqual([...FAKE_MODELS, "house-model"].sort());
    for (const model of res.body.data) {
      expect(model).toEqual({ id: expect.any(String), object: "model", created: expect.any(Number), owned_by: "fake" });
    }
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(res.headers.get("x-edgeclaw-overhead-ms")).toMatch(/^\d+\.\d{2}$/);
  });

  it("leaves out disabled models and models of revoked providers", async () => {
    const own = await makeTenant();
    const models = expectStatus(await admin(own.owner, "GET", `/models?tenant_id=${own.tenantId}`), 200).body.data as { id: string; public_name: string }[];
    const house = models.find((m) => m.public_name === "house-model")!;
    expectStatus(await admin(own.owner, "PATCH", `/models/${house.id}`, { enabled: false }), 200);
    let ids = (await call("GET", "/v1/models", { bearer: own.key })).body.data.map((m: { id: string }) => m.id);
    expect(ids).not.toContain("house-model");
    expect(ids).toContain("fake-echo");

    expectStatus(await admin(own.owner, "POST", `/providers/${own.providerId}/revoke`), 200);
    ids = (await call("GET", "/v1/models", { bearer: own.key })).body.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual([]);
  });

  it("lists and retrieves a route defined only in the router config, as chat accepts it", async () => {
    const own = await makeTenant();
    const name = uid("routed");
    await setConfig(own, { routes: { [name]: { tree: target("fake-echo") } } });
    expect((await chat(own.key, { model: name, messages: [{ role: "user", content: "hi" }] })).status).toBe(200);
    const list = await call("GET", "/v1/models", { bearer: own.key });
    expect(list.status).toBe(200);
    expect(list.body.data.map((m: { id: string }) => m.id)).toContain(name);
    expect(list.body.data.find((m: { id: string }) => m.id === name)).toEqual({ id: name, object: "model", created: expect.any(Number), owned_by: "fake" });
    const one = await call("GET", `/v1/models/${name}`, { bearer: own.key });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id: name, object: "model", owned_by: "fake" });
  });

  it("retrieves one model, and answers 404 model_not_found for others", async () => {
    const res = await call("GET", "/v1/models/house-model", { bearer: t.key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: "house-model", object: "model" });
    const missing = await call("GET", "/v1/models/nope", { bearer: t.key });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe("model_not_found");
  });
});

describe("created and owned_by through the openai client", () => {
  const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

  it("a catalog model's created is its creation time; a config route's is its config version's", async () => {
    const own = await makeRouterTenant();
    const client = openaiClient(own.key);
    const rows = expectStatus(await admin(own.owner, "GET", `/models?tenant_id=${own.tenantId}`), 200).body.data as { public_name: string; created_at: string }[];
    const house = rows.find((m) => m.public_name === "house-model")!;

    const first = expectStatus(await putConfig(own, { routes: { mixed: { tree: { type: "fallback", children: [target("fake-echo", { id: "a" }), { type: "target", id: "b", provider: "claude", model: "claude-test" }] } }, solo: { tree: target("fake-echo") } } }), 201).body;
    const listed = new Map<string, OpenAI.Models.Model>();
    for await (const model of client.models.list()) listed.set(model.id, model);
    expect(listed.get("house-model")).toEqual({ id: "house-model", object: "model", created: seconds(house.created_at), owned_by: "fake" });
    expect(listed.get("mixed")).toEqual({ id: "mixed", object: "model", created: seconds(first.created_at), owned_by: "edgeclaw" });
    expect(listed.get("solo")).toMatchObject({ created: seconds(first.created_at), owned_by: "fake" });
    expect(seconds(first.created_at)).toBeGreaterThan(1_700_000_000);

    // A later version redefines the route: created follows the version that defines it now.
    await new Promise((r) => setTimeout(r, 1100));
    const second = expectStatus(await putConfig(own, { routes: { solo: { tree: { type: "target", provider: "claude", model: "claude-test" } } } }), 201).body;
    expect(seconds(second.created_at)).toBeGreaterThan(seconds(first.created_at));
    const solo = await client.models.retrieve("solo");
    expect(solo).toEqual({ id: "solo", object: "model", created: seconds(second.created_at), owned_by: "claude" });

    const missing = await client.models.retrieve("mixed").then(() => null, (e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
