// The Discord Gateway connection (durable-objects/discord-gateway.ts) against the fake Gateway:
// IDENTIFY with the bot token and intents, heartbeats and ACKs, a zombie connection resumed, a
// RESUME replaying what was missed exactly once, INVALID_SESSION, op 7, fatal close codes, and
// start/stop through the admin API.
import { describe, expect, it } from "vitest";
import { framesOf, connectedGateway, gw, gwStats, startGateway, stopGateway, gatewayState, setupGateway, waitState, waitStats } from "./discord-gateway-helpers.ts";

// GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
const INTENTS = (1 << 9) | (1 << 12) | (1 << 15);

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
  });
});
