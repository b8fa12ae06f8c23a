// Inbox and outbox depth mirrored into the session's D1 row (sessions.inbox_depth, outbox_depth,
// depth_at) for /metrics: a burst of messages into a session whose turns take a while shows a
// backlog between turns, replies the platform refuses for a moment show as outbox depth, and both
// return to 0 when everything is answered and sent. The webhook itself never writes the row.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliver, dmUpdate, failNext, newChatId, newUpdateId, scenarioModel, sentTo, sessionKeyFor, setupTelegram, waitFor } from "../channels/helpers.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";

interface DepthRow {
  inbox_depth: number;
  outbox_depth: number;
  depth_at: number | null;
}

function depthOf(key: string): Promise<DepthRow | null> {
  return env.DB.prepare("SELECT inbox_depth, outbox_depth, depth_at FROM sessions WHERE key = ?").bind(key).first<DepthRow>();
}

describe("session depth in D1", () => {
  it("follows a burst of messages and a refused send, then returns to 0", async () => {
    const s = await setupTelegram({ ownToken: true });
    // Each turn takes 2 s: the burst below is all accepted while the first of its turns runs.
    const scn = await scenarioModel(s.tenant, { mode: "delay", delay_ms: 2000 });
    expectStatus(await admin(s.tenant.owner, "PATCH", `/agents/${s.agentId}`, { model: scn.model }), 200);
    const chat = newChatId();
    const key = sessionKeyFor(s, chat);

    // The first turn registers the session's row; a quiet conversation leaves it at 0.
    await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "first"));
    await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 30_000);
    const quiet = await waitFor(() => depthOf(key), (r) => r?.depth_at != null, 10_000);
    expect(quiet).toMatchObject({ inbox_depth: 0, outbox_depth: 0 });

    // The platform refuses the next two sends for a second each (429 with retry_after).
    await failNext(s.token, "429", 2, 1);
    const burst = 5;
    for (let i = 0; i < burst; i++) expect((await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, `burst ${i}`))).status).toBe(200);
    // The webhook acknowledgement wrote nothing to the row.
    expect(await depthOf(key)).toEqual(quiet);

    const seen: DepthRow[] = [];
    const done = await waitFor(
      async () => {
        const row = await depthOf(key);
        if (row) seen.push(row);
        return { row, sent: (await sentTo(s.token, chat)).length };
      },
      (v) => v.sent >= 1 + burst && v.row?.inbox_depth === 0 && v.row.outbox_depth === 0,
      60_000,
      50,
    );
    expect(done.sent).toBe(1 + burst);
    expect(done.row).toMatchObject({ inbox_depth: 0, outbox_depth: 0 });
    // The backlog showed while it was worked off: messages waiting behind a turn, a refused reply.
    expect(Math.max(...seen.map((r) => r.inbox_depth))).toBeGreaterThanOrEqual(2);
    expect(Math.max(...seen.map((r) => r.outbox_depth))).toBeGreaterThanOrEqual(1);
    expect(seen.every((r) => r.inbox_depth <= burst && r.outbox_depth <= burst)).toBe(true);
    expect(done.row!.depth_at!).toBeGreaterThan(quiet!.depth_at!);
  }, 90_000);
});
