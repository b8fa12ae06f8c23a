// Two regions and the global entry, each a `wrangler dev` of its own env (test/support/regions-stack.ts).
// A tenant is made in each region through the global entry only, and each tenant's traffic (/v1
// plain and streamed, a Telegram webhook, an inbound hook, a scheduler job's webhook) goes through
// the global entry too. Then the regional Workers are tried directly with each other's keys, and
// with keys whose region was edited. Last, with every process stopped, each region's local state
// (D1 and every Durable Object's SQLite) is read from disk: nothing of the eu tenant may be in the
// us state or in the entry's, and the other way round, while each tenant's data is found in its
// own region's (so the check cannot pass because nothing was stored). No timing is asserted.
import { createHash, createHmac, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { anywhere, inRows, scanState, type ScannedFile } from "../support/state-scan.ts";
import { ADMIN_SECRET, REGIONS, startRegionsStack, TELEGRAM_BOT_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET_REF, TELEGRAM_TOKEN_REF, type Region, type RegionsStack } from "../support/regions-stack.ts";

interface Tenant {
  region: Region;
  id: string;
  name: string;
  key: string;
  keyPrefix: string;
  providerId: string;
  agentId: string;
  telegram: { id: string; secret: string; chat: number };
  hook: { id: string; token: string };
  jobId: string;
  // Texts sent through each surface, unique to this run and region: they must end up in the
  // region's own state (sessions) and nowhere else.
  texts: { v1: string; stream: string; telegram: string; hook: string };
}

let stack: RegionsStack;
const tenants = {} as Record<Region, Tenant>;
const other = (r: Region): Region => (r === "eu" ? "us" : "eu");
const run = randomBytes(4).toString("hex");

async function until<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not done after ${ms} ms (last: ${JSON.stringify(value).slice(0, 300)})`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function setUpTenant(region: Region): Promise<Tenant> {
  const admin = stack.admin(region);
  const name = `Residency ${region} ${run}`;
  const tenant = await admin("POST", "/tenants", { name });
  const provider = await admin("POST", "/providers", { tenant_id: tenant.id, name: "fake", kind: "openai-compatible", base_url: `${stack.upstream.url}/v1` });
  await admin("POST", "/models", { tenant_id: tenant.id, public_name: "echo", provider_id: provider.id, upstream_model: "fake-echo" });
  const key = await admin("POST", "/api-keys", { tenant_id: tenant.id, name: `key ${region}` });
  const agent = await admin("POST", "/agents", { tenant_id: tenant.id, name: "bot", system_prompt: "Be brief.", model: "echo" });
  const telegram = await admin("POST", "/channel-accounts", {
    tenant_id: tenant.id, channel: "telegram", name: "tg", api_base_url: stack.telegram.url, token_ref: TELEGRAM_TOKEN_REF[region], bot_username: `regions_${region}_bot`,
  });
  const hook = await admin("POST", "/channel-accounts", { tenant_id: tenant.id, channel: "hook", name: "hook" });
  await admin("POST", "/bindings", { tenant_id: tenant.id, agent_id: agent.id });
  const job = await admin("POST", "/jobs", {
    tenant_id: tenant.id,
    name: `webhook ${region}`,
    schedule: { kind: "once", delay_ms: 1_000 },
    action: { kind: "webhook", url: `${stack.telegram.url}/callbacks/job-${region}-${run}`, secret_ref: WEBHOOK_SECRET_REF, body: { region } },
  });
  const texts = { v1: `v1-${region}-${run}`, stream: `stream-${region}-${run}`, telegram: `telegram-${region}-${run}`, hook: `hook-${region}-${run}` };
  return {
    region, id: tenant.id, name, key: key.key, keyPrefix: key.prefix, providerId: provider.id, agentId: agent.id,
    telegram: { id: telegram.id, secret: telegram.webhook_secret, chat: region === "eu" ? 4101 : 4102 },
    hook: { id: hook.id, token: hook.token }, jobId: job.id, texts,
  };
}

// A POST read with fetch, as a client would: region refusals answer 409 (a 421 would have a
// Fetch-standard client resend the request on a new connection, and Node's fetch then fails a
// resent request with a body, so the client would see a network error instead of the answer).
async function post(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

function chat(base: string, key: string, text: string, stream = false): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "echo", messages: [{ role: "user", content: text }], ...(stream ? { stream: true } : {}) }),
  });
}

// Reads an SSE answer event by event as it arrives; returns the data lines in order.
async function sseEvents(res: Response): Promise<string[]> {
  const events: string[] = [];
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffered.indexOf("\n\n")) >= 0) {
      const event = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      for (const line of event.split("\n")) if (line.startsWith("data: ")) events.push(line.slice(6));
    }
  }
  return events;
}

async function expectStreamedEcho(res: Response, text: string): Promise<void> {
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const events = await sseEvents(res);
  expect(events.at(-1)).toBe("[DONE]");
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  expect(chunks.length).toBeGreaterThanOrEqual(2);
  expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
  expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe(`echo: ${text}`);
}

beforeAll(async () => {
  stack = await startRegionsStack();
  for (const region of REGIONS) tenants[region] = await setUpTenant(region);
}, 240_000);

afterAll(async () => {
  await stack?.close();
});

describe("two regions behind one global entry", () => {
  it("gives each region's tenant ids and keys that carry its region", () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      // Fixed patterns, then the region (no RegExp built from a value).
      const id = /^(ten|chn|job)_([a-z][a-z0-9]{1,7})_[0-9a-f]{24}$/;
      for (const [value, kind] of [[t.id, "ten"], [t.telegram.id, "chn"], [t.hook.id, "chn"], [t.jobId, "job"]] as const) {
        expect(id.exec(value)?.slice(1), value).toEqual([kind, region]);
      }
      expect(/^sk-ec-([a-z][a-z0-9]{1,7})-[A-Za-z0-9_-]{43}$/.exec(t.key)?.[1]).toBe(region);
      expect(t.hook.token.startsWith(`ehk_${t.hook.id}.`)).toBe(true);
    }
  });

  it("answers /v1 chat completions through the entry, plain and streamed, for each region's key", async () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      const res = await chat(stack.entry, t.key, t.texts.v1);
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body.choices[0].message.content).toBe(`echo: ${t.texts.v1}`);
      await expectStreamedEcho(await chat(stack.entry, t.key, t.texts.stream, true), t.texts.stream);
    }
  });

  it("takes a Telegram webhook through the entry and the reply reaches the Bot API", async () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      const update = { update_id: 1, message: { message_id: 1, date: Math.floor(Date.now() / 1000), chat: { id: t.telegram.chat, type: "private" }, from: { id: t.telegram.chat, is_bot: false, first_name: "U" }, text: t.texts.telegram } };
      const res = await fetch(`${stack.entry}/webhooks/telegram/${t.telegram.id}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": t.telegram.secret },
        body: JSON.stringify(update),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    for (const region of REGIONS) {
      const t = tenants[region];
      const sent = await until(
        `${region} Telegram reply`,
        async () => (await (await fetch(`${stack.telegram.url}/control/${encodeURIComponent(TELEGRAM_BOT_TOKEN[region])}/sent`)).json()) as any[],
        (l) => l.some((m) => m.method === "sendMessage"),
      );
      expect(sent.filter((m) => m.method === "sendMessage").map((m) => [m.chat_id, m.text])).toEqual([[String(t.telegram.chat), `echo: ${t.texts.telegram}`]]);
    }
  });

  it("runs an inbound hook through the entry: polled and called back", async () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      const callback = `${stack.telegram.url}/callbacks/hook-${region}-${run}`;
      const res = await fetch(`${stack.entry}/hooks/agent`, {
        method: "POST",
        headers: { authorization: `Bearer ${t.hook.token}`, "idempotency-key": `hook-${region}`, "content-type": "application/json" },
        body: JSON.stringify({ text: t.texts.hook, peer: "ci", callback_url: callback }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      const accepted = (await res.json()) as { poll_url: string };
      const done = await until(
        `${region} hook run`,
        async () => (await (await fetch(`${stack.entry}${accepted.poll_url}`, { headers: { authorization: `Bearer ${t.hook.token}` } })).json()) as any,
        (b) => b.status === "done",
      );
      expect(done.reply).toBe(`echo: ${t.texts.hook}`);
      const called = await until(`${region} hook callback`, async () => (await (await fetch(`${stack.telegram.url}/control/callbacks/hook-${region}-${run}`)).json()) as any[], (l) => l.length >= 1);
      expect(called[0].body).toMatchObject({ status: "done", reply: `echo: ${t.texts.hook}` });
    }
  });

  it("fires each region's scheduler job: its webhook arrives signed", async () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      const [call] = await until(`${region} job webhook`, async () => (await (await fetch(`${stack.telegram.url}/control/callbacks/job-${region}-${run}`)).json()) as any[], (l) => l.length >= 1);
      expect(call.body).toMatchObject({ job_id: t.jobId, attempt: 1, data: { region } });
      expect(call.signature).toBe(`sha256=${createHmac("sha256", WEBHOOK_SECRET).update(`${call.timestamp}.${call.raw}`).digest("hex")}`);
    }
  });

  it("forwards a key of region eu sent to the us Worker (streams included), and the other way round", async () => {
    for (const region of REGIONS) {
      const t = tenants[region];
      const wrong = stack.bases[other(region)];
      const res = await chat(wrong, t.key, `${t.texts.v1} again`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as any).choices[0].message.content).toBe(`echo: ${t.texts.v1} again`);
      await expectStreamedEcho(await chat(wrong, t.key, `${t.texts.stream} again`, true), `${t.texts.stream} again`);
    }
  });

  it("forwards a request only once: one already forwarded that reaches the wrong region is refused", async () => {
    const res = await post(`${stack.bases.us}/v1/chat/completions`, { authorization: `Bearer ${tenants.eu.key}`, "x-edgeclaw-forwarded-from": "entry" }, {
      model: "echo",
      messages: [{ role: "user", content: "loop" }],
    });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("misdirected_region");
  });

  it("serves a tenant's admin calls in its home region only: a scoped token is forwarded home, a wrong region header is refused", async () => {
    const eu = tenants.eu;
    const scoped = await signAdminToken(ADMIN_SECRET, { sub: "eu-admin", role: "admin", tenant: eu.id }, 600);
    const listed = await fetch(`${stack.entry}/admin/api-keys`, { headers: { authorization: `Bearer ${scoped}` } });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as any).data.map((k: any) => k.prefix)).toEqual([eu.keyPrefix]);
    const misplaced = await post(`${stack.entry}/admin/api-keys`, { authorization: `Bearer ${stack.owner}`, "x-edgeclaw-region": "us" }, { tenant_id: eu.id, name: "misplaced" });
    expect(misplaced.status).toBe(409);
    expect(misplaced.body.error.code).toBe("wrong_region");
  });

  it("refuses a key whose region prefix was changed, and a key of a region that does not exist", async () => {
    const eu = tenants.eu.key;
    const tampered = eu.replace("sk-ec-eu-", "sk-ec-us-");
    const unknown = eu.replace("sk-ec-eu-", "sk-ec-zz-");
    for (const base of [stack.entry, stack.bases.eu, stack.bases.us]) {
      for (const key of [tampered, unknown]) {
        const res = await chat(base, key, "nope");
        expect(res.status, `${base} ${key.slice(0, 9)}`).toBe(401);
        expect(((await res.json()) as any).error).toBeDefined();
      }
    }
  });
});

describe("residency, read from the state files", () => {
  it("keeps every trace of each tenant in its own region's storage, none in the other's or the entry's", async () => {
    await stack.stop();
    const files: Record<Region | "global", ScannedFile[]> = { eu: scanState(stack.states.eu), us: scanState(stack.states.us), global: scanState(stack.states.global) };
    // Where each region keeps what: D1 rows, the session Durable Object (the chats), the
    // scheduler shard (the job). Found there, so the layout the test reads is the one in use.
    for (const region of REGIONS) {
      const t = tenants[region];
      expect(inRows(files[region], t.id).some((p) => p.startsWith("v3/d1/"))).toBe(true);
      expect(inRows(files[region], t.texts.telegram).some((p) => p.startsWith(`v3/do/edgeclaw-${region}-ChatSession/`))).toBe(true);
      expect(inRows(files[region], t.texts.hook).some((p) => p.startsWith(`v3/do/edgeclaw-${region}-ChatSession/`))).toBe(true);
      expect(inRows(files[region], t.jobId).some((p) => p.startsWith(`v3/do/edgeclaw-${region}-SchedulerShard/`))).toBe(true);
    }
    for (const region of REGIONS) {
      const t = tenants[region];
      const keyHash = createHash("sha256").update(t.key).digest("hex");
      // Stored in its own region (D1 rows, Durable Object rows): each must be found there.
      const stored: Record<string, string> = {
        "tenant id": t.id, "tenant name": t.name, "key hash": keyHash, "key prefix": t.keyPrefix, "provider id": t.providerId, "agent id": t.agentId,
        "telegram account id": t.telegram.id, "hook account id": t.hook.id, "job id": t.jobId, "telegram text": t.texts.telegram, "hook text": t.texts.hook,
      };
      for (const [what, needle] of Object.entries(stored)) {
        expect(inRows(files[region], needle), `${region} ${what} in its own region`).not.toEqual([]);
      }
      // Anything of it, including the /v1 texts (not kept by the gateway, but nothing else may keep them either), the whole key.
      const all = { ...stored, key: t.key, "v1 text": t.texts.v1, "stream text": t.texts.stream };
      for (const place of [other(region), "global"] as const) {
        for (const [what, needle] of Object.entries(all)) {
          expect(anywhere(files[place], needle), `${region} ${what} in ${place}'s state`).toEqual([]);
        }
      }
    }
  });
});
