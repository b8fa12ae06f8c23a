// Inbound hooks (bearer token, Idempotency-Key, callback or polling) and WebChat (a WebSocket
// served by the session Durable Object, streaming deltas, deduping resent frames).
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { BASE, call, expectStatus } from "../gateway/helpers.ts";
import { hookHeaders, openSocket, setupChannel as setup, waitFor } from "./helpers.ts";

describe("inbound hooks", () => {
  it("runs an agent turn once per idempotency key and answers by polling", async () => {
    const s = await setup("hook");
    expect(s.token).toMatch(/^ehk_/);
    expect((await call("POST", "/hooks/agent", { body: { text: "x" } })).status).toBe(401);
    expect((await call("POST", "/hooks/agent", { body: { text: "x" }, headers: hookHeaders(`${s.token}x`, "k1") })).status).toBe(401);
    expect((await call("POST", "/hooks/agent", { body: { text: "x" }, headers: hookHeaders(s.token) })).status).toBe(400);
    const first = expectStatus(await call("POST", "/hooks/agent", { body: { text: "build report", peer: "ci" }, headers: hookHeaders(s.token, "run-1") }), 202);
    expect(first.body.status).toBe("accepted");
    const again = expectStatus(await call("POST", "/hooks/agent", { body: { text: "build report", peer: "ci" }, headers: hookHeaders(s.token, "run-1") }), 202);
    expect(again.body).toMatchObject({ id: first.body.id, status: "duplicate" });
    const done = await waitFor(
      () => call("GET", first.body.poll_url, { headers: hookHeaders(s.token) }),
      (a) => a.body.status === "done",
    );
    expect(done.body).toMatchObject({ status: "done", reply: "echo: build report" });
    // Another hook account of another tenant cannot poll it.
    const other = await setup("hook");
    expect((await call("GET", first.body.poll_url, { headers: hookHeaders(other.token) })).status).toBe(404);
  });

  it("posts the reply to the callback URL once", async () => {
    const s = await setup("hook");
    const name = `cb-${crypto.randomUUID()}`;
    const callbackUrl = `${env.FAKE_TELEGRAM_URL}/callbacks/${name}`;
    expectStatus(await call("POST", "/hooks/agent", { body: { text: "ping", callback_url: callbackUrl }, headers: hookHeaders(s.token, "cb-1") }), 202);
    const received = await waitFor(
      async () => (await (await fetch(`${env.FAKE_TELEGRAM_URL}/control/callbacks/${name}`)).json()) as any[],
      (l) => l.length >= 1,
    );
    expect(received).toHaveLength(1);
    expect(received[0].body).toEqual({ id: "cb-1", status: "done", reply: "echo: ping" });
    expect(received[0].idempotency_key).toMatch(/#1$/);
  });
});

describe("webchat", () => {
  it("serves the page, refuses bad peers, streams deltas and replies over a WebSocket, and dedupes resent frames", async () => {
    const s = await setup("webchat");
    const page = await SELF.fetch(`${BASE}/webchat/${s.accountId}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("new WebSocket");
    expect((await openSocket(s.accountId, "short")).status).toBe(400);
    expect((await openSocket("chn_nope", "a".repeat(20))).status).toBe(404);

    const peer = crypto.randomUUID().replace(/-/g, "");
    const res = await openSocket(s.accountId, peer);
    expect(res.status).toBe(101);
    const ws = res.webSocket as WebSocket;
    ws.accept();
    const frames: any[] = [];
    ws.addEventListener("message", (ev) => {
      frames.push(JSON.parse(ev.data as string));
    });
    ws.send(JSON.stringify({ type: "message", id: "m1", text: "hello web" }));
    ws.send(JSON.stringify({ type: "message", id: "m1", text: "hello web" }));
    ws.send(JSON.stringify({ type: "message", id: "m2", text: "second" }));
    await waitFor(async () => frames.filter((f) => f.type === "reply").length, (n) => n >= 2);
    expect(frames[0]).toEqual({ type: "history", messages: [] });
    expect(frames.filter((f) => f.type === "ack").map((f) => [f.id, f.status])).toEqual([
      ["m1", "accepted"],
      ["m1", "duplicate"],
      ["m2", "accepted"],
    ]);
    const deltas = frames.filter((f) => f.type === "delta" && f.reply_to === "m1");
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((d) => d.text).join("")).toBe("echo: hello web");
    expect(frames.filter((f) => f.type === "reply").map((f) => [f.reply_to, f.text])).toEqual([
      ["m1", "echo: hello web"],
      ["m2", "echo: second"],
    ]);
    ws.close(1000, "bye");

    // Reconnecting shows the conversation so far.
    const back = (await openSocket(s.accountId, peer)).webSocket as WebSocket;
    back.accept();
    const first = await new Promise<any>((resolve) => back.addEventListener("message", (ev) => resolve(JSON.parse(ev.data as string)), { once: true }));
    expect(first.type).toBe("history");
    expect(first.messages.map((m: any) => m.content)).toEqual(["hello web", "echo: hello web", "second", "echo: second"]);
    back.close(1000, "bye");
  });
});
