// Regional deployments (docs/deploy.md): the same Worker run with the vars a regional env of
// wrangler.jsonc sets (REGION, REGIONS) or the global entry's (GATEWAY_ROLE=entry), against the
// real D1 and Durable Objects of this pool. The other region's Worker is a recording stand-in
// passed as its REGION_<NAME> binding: what crosses the binding (the request, its stream, the
// answer's stream) is what these tests check. test/e2e/regions.e2e.test.ts runs real regional
// Workers side by side through real service bindings.
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../workers/app.ts";
import { FORWARDED_HEADER } from "../../workers/regions/gate.ts";
import { objectNamed } from "../../workers/regions/objects.ts";
import { BASE, FAKE_MODELS, hello, token, uid } from "./helpers.ts";

interface Forwarded {
  method: string;
  url: string;
  headers: Headers;
  body: string;
}

// A REGION_<NAME> binding that records what it was sent and answers `answer()`.
function regionWorker(answer: (req: Request) => Response | Promise<Response> = () => Response.json({ from: "other region" })) {
  const seen: Forwarded[] = [];
  return {
    seen,
    binding: {
      async fetch(input: Request): Promise<Response> {
        const req = new Request(input);
        const copy = req.clone();
        seen.push({ method: req.method, url: req.url, headers: req.headers, body: await copy.text() });
        return answer(req);
      },
    },
  };
}

type Vars = Record<string, unknown>;

async function send(bindings: Vars, method: string, path: string, init: { bearer?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  if (init.bearer) headers.authorization = `Bearer ${init.bearer}`;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) }), bindings as never, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function json(res: Response): Promise<any> {
  return JSON.parse(await res.text());
}

function regionalEnv(self: string, others: Record<string, { fetch(r: Request): Promise<Response> }>): Vars {
  const bindings: Vars = { ...env, REGION: self, REGIONS: ["eu", "us"].join(",") };
  for (const [name, binding] of Object.entries(others)) bindings[`REGION_${name.toUpperCase()}`] = binding;
  return bindings;
}

// A tenant made through the eu Worker, with a provider at the fake upstream, one model and a key.
async function euTenant(eu: Vars) {
  const owner = await token({ sub: "owner", role: "owner" });
  const tenant = await json(expectOk(await send(eu, "POST", "/admin/tenants", { bearer: owner, body: { name: "EU tenant" } }), 201));
  const provider = await json(
    expectOk(
      await send(eu, "POST", "/admin/providers", {
        bearer: owner,
        body: { tenant_id: tenant.id, name: "fake", kind: "openai-compatible", base_url: `${env.FAKE_UPSTREAM_URL}/v1`, credential_ref: "PROVIDER_FAKE_KEY" },
      }),
      201,
    ),
  );
  expectOk(await send(eu, "POST", "/admin/models", { bearer: owner, body: { tenant_id: tenant.id, public_name: FAKE_MODELS[0], provider_id: provider.id, upstream_model: FAKE_MODELS[0] } }), 201);
  const key = await json(expectOk(await send(eu, "POST", "/admin/api-keys", { bearer: owner, body: { tenant_id: tenant.id, name: "k" } }), 201));
  return { owner, tenant, key: key.key as string };
}

function expectOk(res: Response, status: number): Response {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}`);
  return res;
}

describe("a regional Worker", () => {
  it("mints ids and keys that carry its region, fixes the tenant's home region, and serves its own keys itself", async () => {
    const us = regionWorker();
    const eu = regionalEnv("eu", { us: us.binding });
    const { tenant, key } = await euTenant(eu);
    expect(tenant.id).toMatch(/^ten_eu_[0-9a-f]{24}$/);
    expect(tenant.region).toBe("eu");
    expect(key).toMatch(/^sk-ec-eu-[A-Za-z0-9_-]{43}$/);
    const answer = await send(eu, "POST", "/v1/chat/completions", { bearer: key, body: { model: FAKE_MODELS[0], ...hello } });
    expect(answer.status).toBe(200);
    expect((await json(answer)).choices[0].message.content).toContain("hello");
    expect(us.seen).toHaveLength(0);
  });

  it("forwards a key of another region through that region's binding, streaming both ways without buffering", async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const us = regionWorker(() => {
      // The second chunk waits until the test has read the first through the eu Worker: a
      // forwarder that buffered the answer would never hand the first one over.
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode("data: first\n\n"));
          await released;
          controller.enqueue(new TextEncoder().encode("data: [DONE]\n\n"));
          controller.close();
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    });
    const eu = regionalEnv("eu", { us: us.binding });
    const usKey = `sk-ec-us-${"A".repeat(43)}`;
    const res = await send(eu, "POST", "/v1/chat/completions", { bearer: usKey, body: { model: "m", stream: true, ...hello }, headers: { "x-request-id": "req-forward-0001" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toBe("req-forward-0001");
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("data: first\n\n");
    release();
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe("data: [DONE]\n\n");
    expect(us.seen).toHaveLength(1);
    const seen = us.seen[0]!;
    expect(seen.method).toBe("POST");
    expect(new URL(seen.url).pathname).toBe("/v1/chat/completions");
    expect(seen.headers.get(FORWARDED_HEADER)).toBe("eu");
    expect(seen.headers.get("authorization")).toBe(`Bearer ${usKey}`);
    expect(seen.headers.get("x-request-id")).toBe("req-forward-0001");
    // The home region's trace continues under the forwarding Worker's span, the one it answers with.
    expect(seen.headers.get("traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    expect(seen.headers.get("traceparent")).toBe(res.headers.get("traceparent"));
    expect(JSON.parse(seen.body)).toMatchObject({ model: "m", stream: true });
  });

  it("never forwards twice: another region's request that arrives already forwarded is refused with 409", async () => {
    const us = regionWorker();
    const eu = regionalEnv("eu", { us: us.binding });
    const res = await send(eu, "POST", "/v1/chat/completions", { bearer: `sk-ec-us-${"B".repeat(43)}`, body: hello, headers: { [FORWARDED_HEADER]: "entry" } });
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe("misdirected_region");
    expect(us.seen).toHaveLength(0);
  });

  it("refuses a key that names a region the deployment does not have, before touching storage", async () => {
    const eu = regionalEnv("eu", {});
    const res = await send(eu, "GET", "/v1/models", { bearer: `sk-ec-zz-${"C".repeat(43)}` });
    expect(res.status).toBe(401);
    const body = await json(res);
    expect(body.error.code).toBe("invalid_api_key");
    expect(body.error.message).toContain("'zz'");
  });

  it("refuses a key whose region prefix was edited: the home region's hash of the edited key matches nothing", async () => {
    const eu = regionalEnv("eu", {});
    const { key } = await euTenant(eu);
    const tampered = key.replace(/^sk-ec-eu-/, "sk-ec-us-");
    // The us Worker is where the edited key is sent: run the same Worker as us, on the same D1.
    const usSelf = regionalEnv("us", {});
    const res = await send(usSelf, "GET", "/v1/models", { bearer: tampered });
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe("invalid_api_key");
    expect((await send(eu, "GET", "/v1/models", { bearer: key })).status).toBe(200);
  });

  it("refuses to create a tenant in another region than its own, and a token bound to another region", async () => {
    const us = regionWorker();
    const eu = regionalEnv("eu", { us: us.binding });
    const owner = await token({ sub: "owner", role: "owner" });
    const wrong = await send(eu, "POST", "/admin/tenants", { bearer: owner, body: { name: "x", region: "us" } });
    expect(wrong.status).toBe(409);
    expect((await json(wrong)).error.code).toBe("wrong_region");
    const usToken = await token({ sub: "owner", role: "owner", region: "us" });
    const forwarded = await send(eu, "GET", "/admin/tenants", { bearer: usToken });
    expect(forwarded.status).toBe(200);
    expect(us.seen).toHaveLength(1);
    const already = await send(eu, "GET", "/admin/tenants", { bearer: usToken, headers: { [FORWARDED_HEADER]: "entry" } });
    expect(already.status).toBe(409);
  });

  it("answers a question about another region's tenant with a clear 409, not an empty list from its own database", async () => {
    const eu = regionalEnv("eu", {});
    const owner = await token({ sub: "owner", role: "owner" });
    // In a body (the gate does not read bodies), the tenant id still says where it lives.
    const res = await send(eu, "POST", "/admin/api-keys", { bearer: owner, body: { tenant_id: `ten_us_${"0".repeat(24)}`, name: "k" } });
    expect(res.status).toBe(409);
    const body = await json(res);
    expect(body.error.code).toBe("wrong_region");
    expect(body.error.message).toContain("X-EdgeClaw-Region: us");
    // In the query, the gate sees it: a call already forwarded once stops with 409 too.
    const listed = await send(eu, "GET", `/admin/api-keys?tenant_id=ten_us_${"0".repeat(24)}`, { bearer: owner, headers: { [FORWARDED_HEADER]: "entry" } });
    expect(listed.status).toBe(409);
    expect((await json(listed)).error.code).toBe("misdirected_region");
  });

  it("sends the owner's X-EdgeClaw-Region call to that region", async () => {
    const us = regionWorker();
    const eu = regionalEnv("eu", { us: us.binding });
    const owner = await token({ sub: "owner", role: "owner" });
    const res = await send(eu, "POST", "/admin/tenants", { bearer: owner, body: { name: "US tenant", region: "us" }, headers: { "x-edgeclaw-region": "us" } });
    expect(res.status).toBe(200);
    expect(us.seen).toHaveLength(1);
    expect(JSON.parse(us.seen[0]!.body)).toEqual({ name: "US tenant", region: "us" });
  });
});

describe("the global entry", () => {
  function entry() {
    const eu = regionWorker(() => Response.json({ region: "eu" }));
    const us = regionWorker(() => Response.json({ region: "us" }));
    // The entry's env has no D1 and no Durable Objects at all (wrangler.jsonc env.global).
    const bindings: Vars = { GATEWAY_ROLE: "entry", REGIONS: "eu,us", REGION_EU: eu.binding, REGION_US: us.binding };
    return { eu, us, bindings };
  }

  it("forwards every surface by the region its credential or id carries", async () => {
    const { eu, us, bindings } = entry();
    const euAccount = `chn_eu_${"a".repeat(24)}`;
    const usAccount = `chn_us_${"b".repeat(24)}`;
    expect(await json(await send(bindings, "POST", "/v1/chat/completions", { bearer: `sk-ec-eu-${"D".repeat(43)}`, body: hello }))).toEqual({ region: "eu" });
    expect(await json(await send(bindings, "GET", "/v1/models", { headers: { "x-api-key": `sk-ec-us-${"E".repeat(43)}` } }))).toEqual({ region: "us" });
    expect(await json(await send(bindings, "POST", `/webhooks/telegram/${euAccount}`, { body: { update_id: 1 } }))).toEqual({ region: "eu" });
    expect(await json(await send(bindings, "POST", "/hooks/agent", { bearer: `ehk_${usAccount}.secret`, body: { message: "hi" } }))).toEqual({ region: "us" });
    expect(await json(await send(bindings, "GET", `/webchat/${usAccount}`))).toEqual({ region: "us" });
    const tenantToken = await token({ sub: "a", role: "admin", tenant: `ten_eu_${"c".repeat(24)}` });
    expect(await json(await send(bindings, "GET", "/admin/api-keys", { bearer: tenantToken }))).toEqual({ region: "eu" });
    const owner = await token({ sub: "owner", role: "owner" });
    expect(await json(await send(bindings, "GET", "/admin/tenants", { bearer: owner, headers: { "x-edgeclaw-region": "us" } }))).toEqual({ region: "us" });
    // An owner call about one object goes where the object lives, whatever the header says.
    const euTenantId = `ten_eu_${"e".repeat(24)}`;
    expect(await json(await send(bindings, "GET", `/admin/tenants/${euTenantId}`, { bearer: owner, headers: { "x-edgeclaw-region": "us" } }))).toEqual({ region: "eu" });
    expect(await json(await send(bindings, "GET", `/admin/jobs?tenant_id=${euTenantId}`, { bearer: owner }))).toEqual({ region: "eu" });
    expect(eu.seen.map((s) => new URL(s.url).pathname)).toEqual(["/v1/chat/completions", `/webhooks/telegram/${euAccount}`, "/admin/api-keys", `/admin/tenants/${euTenantId}`, "/admin/jobs"]);
    expect(us.seen.map((s) => new URL(s.url).pathname)).toEqual(["/v1/models", "/hooks/agent", `/webchat/${usAccount}`, "/admin/tenants"]);
    for (const s of [...eu.seen, ...us.seen]) expect(s.headers.get(FORWARDED_HEADER)).toBe("entry");
  });

  it("hands a WebChat WebSocket upgrade through to the account's region, socket and all", async () => {
    const eu = regionWorker(() => {
      const pair = new WebSocketPair();
      const server = pair[1];
      server.accept();
      server.addEventListener("message", (e) => server.send(`eu heard ${String(e.data)}`));
      return new Response(null, { status: 101, webSocket: pair[0] });
    });
    const bindings: Vars = { GATEWAY_ROLE: "entry", REGIONS: "eu,us", REGION_EU: eu.binding };
    const res = await send(bindings, "GET", `/webchat/chn_eu_${"f".repeat(24)}/ws?peer=p1`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    const socket = res.webSocket!;
    socket.accept();
    const heard = new Promise<string>((resolve) => socket.addEventListener("message", (e) => resolve(String(e.data))));
    socket.send("hello");
    expect(await heard).toBe("eu heard hello");
    socket.close();
    expect(eu.seen[0]!.headers.get("upgrade")).toBe("websocket");
  });

  it("answers what it cannot place with a clear error and stores nothing (it has nowhere to)", async () => {
    const { eu, us, bindings } = entry();
    const noRegionKey = await send(bindings, "GET", "/v1/models", { bearer: "sk-edgeclaw-legacy" });
    expect(noRegionKey.status).toBe(401);
    expect((await json(noRegionKey)).error.code).toBe("invalid_api_key");
    const owner = await token({ sub: "owner", role: "owner" });
    const adminCall = await send(bindings, "GET", "/admin/tenants", { bearer: owner });
    expect(adminCall.status).toBe(400);
    expect((await json(adminCall)).error.code).toBe("region_required");
    const unknownHeader = await send(bindings, "GET", "/admin/tenants", { bearer: owner, headers: { "x-edgeclaw-region": "mars" } });
    expect(unknownHeader.status).toBe(400);
    expect((await json(unknownHeader)).error.code).toBe("unknown_region");
    const webhook = await send(bindings, "POST", `/webhooks/telegram/chn_${"d".repeat(24)}`, { body: {} });
    expect(webhook.status).toBe(404);
    const health = await send(bindings, "GET", "/health");
    expect(await json(health)).toEqual({ status: "ok", role: "entry", regions: ["eu", "us"] });
    expect(eu.seen).toHaveLength(0);
    expect(us.seen).toHaveLength(0);
  });
});

describe("Durable Objects of a regional deployment", () => {
  it("are reached through namespace.jurisdiction() when DO_JURISDICTION is set (workerd itself refuses jurisdictions locally, which proves the call)", () => {
    const name = uid("pin");
    expect(() => objectNamed({ ...env, DO_JURISDICTION: "eu" }, env.SESSIONS, name)).toThrow(/Jurisdiction restrictions are not implemented/);
    expect(() => objectNamed(env, env.SESSIONS, name)).not.toThrow();
  });

  it("get the location hint when one is set", () => {
    const calls: unknown[] = [];
    const recording = new Proxy(env.SESSIONS, {
      get(target, prop) {
        if (prop === "get") return (id: DurableObjectId, options?: unknown) => (calls.push(options), target.get(id));
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    objectNamed({ ...env, DO_LOCATION_HINT: "apac" }, recording, uid("hint"));
    objectNamed(env, recording, uid("hint"));
    expect(calls).toEqual([{ locationHint: "apac" }, undefined]);
  });
});

describe("D1 sessions", () => {
  it("hands admin callers a bookmark, accepts it back, and refuses a malformed one", async () => {
    const owner = await token({ sub: "owner", role: "owner" });
    const created = await send(env as never, "POST", "/admin/tenants", { bearer: owner, body: { id: uid("ten"), name: "bookmarked" } });
    expect(created.status).toBe(201);
    const bookmark = created.headers.get("x-edgeclaw-d1-bookmark");
    expect(bookmark).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/);
    const tenant = await json(created);
    const read = await send(env as never, "GET", `/admin/tenants/${tenant.id}`, { bearer: owner, headers: { "x-edgeclaw-d1-bookmark": bookmark! } });
    expect(read.status).toBe(200);
    expect((await json(read)).name).toBe("bookmarked");
    const bad = await send(env as never, "GET", "/admin/tenants", { bearer: owner, headers: { "x-edgeclaw-d1-bookmark": "'; drop table tenants; --" } });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe("invalid_bookmark");
  });
});
