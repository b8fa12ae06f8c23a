// The Discord Gateway connection (durable-objects/discord-gateway.ts) against the fake Gateway
// (test/fakes/discord-gateway.ts): IDENTIFY with the bot token and intents, heartbeats and ACKs, a
// zombie connection resumed, INVALID_SESSION, op 7, fatal close codes, a hostile gateway's frames,
// and start/stop through the admin API.
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { discordMessages } from "./discord-helpers.ts";
import {
  connectedGateway,
  framesOf,
  gatewayState,
  gw,
  gwStats,
  messageCreate,
  pushMessages,
  setupGateway,
  startGateway,
  stopGateway,
  waitState,
  waitStats,
} from "./discord-gateway-helpers.ts";
import { waitFor } from "./helpers.ts";

// GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
const INTENTS = (1 << 9) | (1 << 12) | (1 << 15);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("discord gateway connection", () => {
  it("identifies with the bot token and the message intents, heartbeats with the last seq and sees the ACKs", async () => {
    const s = await setupGateway();
    const started = await startGateway(s);
    expect(started.desired).toBe("running");
    const state = await waitState(s, (x) => x.status === "connected" && x.last_heartbeat_ack_at !== null);
    expect(state).toMatchObject({ status: "connected", has_session: true, seq: 1, identifies: 1, resumes: 0, heartbeat_interval_ms: 1000 });
    const stats = await waitStats(s, (x) => x.acks >= 2);
    const identify = framesOf(stats, 2);
    expect(identify).toHaveLength(1);
    expect(identify[0]!.d).toMatchObject({ token: s.botToken, intents: INTENTS, properties: { os: "linux", browser: "edgeclaw", device: "edgeclaw" } });
    // Each heartbeat carries the last sequence number received (READY was s 1).
    expect(framesOf(stats, 1).every((f) => f.d === 1)).toBe(true);
    expect(stats).toMatchObject({ sockets: 1, max_open: 1, identifies: 1 });
    await stopGateway(s);
  }, 30_000);

  it("a second start, even at the same moment, keeps the one connection", async () => {
    const s = await setupGateway();
    const [a, b] = await Promise.all([startGateway(s), startGateway(s)]);
    expect([a.desired, b.desired]).toEqual(["running", "running"]);
    await waitState(s, (x) => x.status === "connected");
    const again = await startGateway(s);
    expect(again.status).toBe("connected");
    await sleep(1_500);
    const stats = await gwStats(s);
    // Never two sockets at once, one session (a reconnect in between would be a RESUME).
    expect(stats).toMatchObject({ identifies: 1, max_open: 1 });
    expect((await gatewayState(s)).identifies).toBe(1);
    await stopGateway(s);
  }, 30_000);

  it("closes a zombie connection (heartbeats unanswered) and RESUMEs the session with the last accepted seq", async () => {
    const s = await connectedGateway();
    const before = await gwStats(s);
    await gw(s, "config", { ack: false });
    const stats = await waitStats(s, (x) => x.resumes >= 1);
    const resume = framesOf(stats, 6);
    expect(resume[0]!.d).toEqual({ token: s.botToken, session_id: before.session_id, seq: 1 });
    // The unanswered socket was left, the session kept: no second IDENTIFY.
    expect(stats.identifies).toBe(1);
    expect(stats.sockets).toBeGreaterThanOrEqual(2);
    const state = await waitState(s, (x) => x.status === "connected" && x.resumes >= 1);
    expect(state).toMatchObject({ status: "connected", identifies: 1, has_session: true });
    expect(state.reconnects).toBeGreaterThanOrEqual(1);
    expect(state.last_error).toContain("heartbeat");
    await stopGateway(s);
  }, 30_000);

  it("op 7 RECONNECT and INVALID_SESSION (d true) resume; INVALID_SESSION (d false) identifies anew after 1-5 s", async () => {
    const s = await connectedGateway();
    await gw(s, "reconnect");
    let stats = await waitStats(s, (x) => x.resumes >= 1);
    expect(stats.identifies).toBe(1);
    await waitState(s, (x) => x.status === "connected" && x.resumes >= 1);
    await gw(s, "invalid", { resumable: true });
    stats = await waitStats(s, (x) => x.resumes >= 2);
    expect(stats.identifies).toBe(1);
    await waitState(s, (x) => x.status === "connected" && x.resumes >= 2);
    const oldSession = stats.session_id;
    await gw(s, "invalid", { resumable: false });
    stats = await waitStats(s, (x) => x.identifies >= 2);
    expect(stats.identifies).toBe(2);
    expect(stats.session_id).not.toBe(oldSession);
    const identifies = framesOf(stats, 2);
    // Discord asks for a wait of 1-5 s before identifying again.
    const invalidAt = stats.frames.filter((f) => f.op === 6).at(-1)!.at;
    expect(identifies[1]!.at - invalidAt).toBeGreaterThanOrEqual(900);
    const state = await waitState(s, (x) => x.status === "connected" && x.identifies === 2);
    expect(state).toMatchObject({ status: "connected", identifies: 2, resumes: 2, seq: 1 });
    await stopGateway(s);
  }, 30_000);

  it("4004 (authentication failed) stops the connection for good and says why", async () => {
    const s = await setupGateway();
    await gw(s, "config", { reject: 4004 });
    await startGateway(s);
    const state = await waitState(s, (x) => x.status === "failed");
    expect(state).toMatchObject({ status: "failed", desired: "stopped", last_close_code: 4004, has_session: false });
    expect(state.last_error).toContain("authentication failed");
    await sleep(1_500);
    expect((await gwStats(s)).sockets).toBe(1);
    expect((await gatewayState(s)).status).toBe("failed");
    // Fixed at Discord, an admin starts it again.
    await gw(s, "config", { reject: null });
    await startGateway(s);
    expect((await waitState(s, (x) => x.status === "connected")).identifies).toBe(1);
    await stopGateway(s);
  }, 30_000);

  it("4014 (disallowed intents) fails with a hint; 4009 (session timed out) identifies anew", async () => {
    const s = await connectedGateway();
    await gw(s, "close", { code: 4009 });
    const stats = await waitStats(s, (x) => x.identifies >= 2);
    expect(stats.resumes).toBe(0);
    await waitState(s, (x) => x.status === "connected" && x.identifies === 2);
    await gw(s, "config", { reject: 4014 });
    await gw(s, "close", { code: 4009 });
    const state = await waitState(s, (x) => x.status === "failed");
    expect(state).toMatchObject({ last_close_code: 4014, desired: "stopped" });
    expect(state.last_error).toContain("MESSAGE CONTENT");
  }, 30_000);

  it("stop closes the socket and stays stopped; nothing reconnects", async () => {
    const s = await connectedGateway();
    const stopped = await stopGateway(s);
    expect(stopped).toMatchObject({ status: "stopped", desired: "stopped", has_session: false });
    const closed = await waitStats(s, (x) => x.open === 0);
    expect(closed.open).toBe(0);
    await sleep(2_000);
    const stats = await gwStats(s);
    expect(stats).toMatchObject({ open: 0, sockets: closed.sockets, identifies: 1 });
    expect((await gatewayState(s)).status).toBe("stopped");
    // Events sent meanwhile go nowhere: the connection is down.
    expect(await stopGateway(s)).toMatchObject({ status: "stopped" });
  }, 30_000);

  it("drops oversized and unreadable frames from a hostile gateway and keeps serving", async () => {
    const s = await connectedGateway();
    await gw(s, "raw", { repeat: 1_100_000 });
    await gw(s, "raw", { text: "not json {" });
    await gw(s, "raw", { text: JSON.stringify({ op: "zero", d: [] }) });
    await gw(s, "raw", { text: JSON.stringify({ op: 0, s: 99, t: "MESSAGE_CREATE", d: { id: "x", content: 5 } }) });
    const m = messageCreate("still here");
    await pushMessages(s, [m]);
    const sent = await waitFor(() => discordMessages(s.botToken, m.channel_id), (x) => x.length >= 1);
    expect(sent.map((x) => x.content)).toEqual(["echo: still here"]);
    const state = await gatewayState(s);
    expect(state).toMatchObject({ status: "connected", identifies: 1, resumes: 0 });
    await stopGateway(s);
  }, 30_000);

  it("after an eviction (a fresh object with only its stored state) the watchdog alarm resumes the session", async () => {
    const s = await connectedGateway();
    const before = await gwStats(s);
    const live = env.DISCORD_GATEWAYS.get(env.DISCORD_GATEWAYS.idFromName(s.accountId));
    const stored = await runInDurableObject(live, (_instance, state) => state.storage.get("state"));
    await stopGateway(s);
    await waitStats(s, (x) => x.open === 0);
    // What an eviction leaves: the stored state and an object that starts from it (the fake keeps
    // the session although the first socket closed).
    const fresh = env.DISCORD_GATEWAYS.get(env.DISCORD_GATEWAYS.idFromName(`evicted-${s.accountId}`));
    await runInDurableObject(fresh, async (instance, state) => {
      await state.storage.put("state", stored);
      // The watchdog alarm survives an eviction too.
      await state.storage.setAlarm(Date.now() + 60_000);
      await (instance as any).runner.load();
    });
    expect(await runDurableObjectAlarm(fresh)).toBe(true);
    const stats = await waitStats(s, (x) => x.resumes >= 1);
    expect(framesOf(stats, 6)[0]!.d).toMatchObject({ session_id: before.session_id, seq: 1 });
    expect(stats.identifies).toBe(1);
    const state = await waitFor(() => fresh.state(), (x) => x.status === "connected");
    expect(state).toMatchObject({ status: "connected", identifies: 1, resumes: 1, has_session: true });
    await fresh.stop();
  }, 30_000);
});
