// Streamed replies on Feishu (stream_replies): the first message at the first tokens, text edits
// (PUT im/v1/messages/{message_id}) as the reply grows, and the final edit with the whole text,
// all within Feishu's 20 edits a message (adapter.maxEdits): a stream long enough to want more
// makes 19 intermediate edits at most and keeps the 20th for the final one, also across a crash
// of the session object (the count is durable in the streaming row). Without the cap the 21st
// edit would be refused (230072) and the final text would arrive as a second message.
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fakeFeishuSecret } from "../fakes/feishu.ts";
import { admin, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { exportSession, scenarioModel, waitFor } from "./helpers.ts";
import { deliverFeishu, feishuCalls, feishuFail, feishuId, feishuSent, feishuSessionKey, messageEvent, statusOf, type FeishuSetup } from "./feishu-helpers.ts";
import { answerOf, crashSession, settled, type StreamScenario } from "./streaming-helpers.ts";

// Long and slow enough to want well over 20 edits at Feishu's 1.5 s edit interval.
const LONG: StreamScenario = { stream_words: 90, stream_every_ms: 400 };

// A Feishu app account (stream_replies `stream`) bound to an agent whose model is the scenario's
// slow stream; an app of this test alone (the fake records per app).
async function streamingFeishu(scenario: StreamScenario, stream = true): Promise<FeishuSetup> {
  const appId = `cli_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const encryptKey = crypto.randomUUID().replaceAll("-", "");
  const botOpenId = feishuId("ou");
  const tenant = await makeTenant();
  for (const [name, value] of Object.entries({ "feishu-secret": fakeFeishuSecret(appId), "feishu-encrypt": encryptKey })) {
    expectStatus(await admin(tenant.owner, "PUT", `/secrets/${name}`, { tenant_id: tenant.tenantId, value }), 201);
  }
  const { model } = await scenarioModel(tenant, scenario as unknown as Record<string, unknown>);
  const agent = expectStatus(await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "streamer", system_prompt: "Be brief.", model }), 201);
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", {
      tenant_id: tenant.tenantId,
      channel: "feishu",
      name: "app",
      api_base_url: env.FAKE_FEISHU_URL,
      token_ref: "vault:feishu-secret",
      signing_secret_ref: "vault:feishu-encrypt",
      feishu: { app_id: appId, host: "feishu", bot_open_id: botOpenId },
      send_interval_ms: 0,
      stream_replies: stream,
    }),
    201,
  );
  expect(account.body.stream_replies).toBe(stream);
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id }), 201);
  return { tenant, agentId: agent.body.id as string, accountId: account.body.id as string, appId, encryptKey, botOpenId };
}

describe("streamed replies on Feishu", () => {
  it("one message, edited in place, never past 20 edits, ending with the whole reply", async () => {
    const s = await streamingFeishu(LONG);
    const user = feishuId("ou");
    const chat = feishuId("oc");
    expect(await statusOf(await deliverFeishu(s, messageEvent(s, user, "stream it", { chatId: chat })))).toBe("accepted");
    const done = await settled(s.tenant.owner, feishuSessionKey(s, `dm:${user}`), 1, 90_000);
    const sent = await feishuSent(s, chat);
    const calls = await feishuCalls(s);
    expect(sent).toHaveLength(1);
    const [message] = sent;
    expect(message?.text).toBe(answerOf("stream it", LONG));
    // Edited as it grew (not only the final edit), every edit accepted, the cap never reached past.
    expect(message?.edits).toBeGreaterThanOrEqual(3);
    expect(message?.edits).toBeLessThanOrEqual(20);
    expect(calls.update).toBe(message?.edits);
    expect(calls.refusedEdit).toBe(0);
    expect(done.outbox).toMatchObject([{ state: "sent", receipt: message?.id }]);
    expect(JSON.parse(done.outbox[0].intent).editMessageId).toBe(message?.id);
  }, 120_000);

  it("a crash mid-stream: the resumed run goes on counting, so the message still takes at most 20 edits", async () => {
    const s = await streamingFeishu(LONG);
    const user = feishuId("ou");
    const chat = feishuId("oc");
    const key = feishuSessionKey(s, `dm:${user}`);
    await deliverFeishu(s, messageEvent(s, user, "crash me", { chatId: chat }));
    await waitFor(() => feishuSent(s, chat), (m) => (m[0]?.edits ?? 0) >= 4, 60_000, 100);
    const stub = await crashSession(key);
    const mid = await exportSession(s.tenant.owner, key);
    expect(mid.outbox.map((o: any) => o.state)).toEqual(["streaming"]);
    // The edits made so far are on the row (written before each edit went out).
    expect(JSON.parse(mid.outbox[0].intent).edits).toBeGreaterThanOrEqual(4);
    await runDurableObjectAlarm(stub);
    await settled(s.tenant.owner, key, 1, 120_000);
    const sent = await feishuSent(s, chat);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.text).toBe(answerOf("crash me", LONG));
    expect(sent[0]?.edits).toBeLessThanOrEqual(20);
    expect((await feishuCalls(s)).refusedEdit).toBe(0);
  }, 180_000);

  it("an edit Feishu refuses for good stops the edits; the refused final edit's whole text goes as a new message", async () => {
    const scenario = { stream_words: 40, stream_every_ms: 200 };
    const s = await streamingFeishu(scenario);
    const user = feishuId("ou");
    const chat = feishuId("oc");
    const key = feishuSessionKey(s, `dm:${user}`);
    await deliverFeishu(s, messageEvent(s, user, "refuse me", { chatId: chat }));
    const [first] = await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1, 20_000, 20);
    // The next two message calls: the first intermediate edit (1.5 s after the post, the stream
    // runs 8 s) and then the final edit, both refused as past the edit cap.
    await feishuFail(s, "status", 2, { status: 400, code: 230072 });
    const done = await settled(s.tenant.owner, key);
    const sent = await feishuSent(s, chat);
    expect(sent.map((m) => [m.id, m.edits])).toEqual([
      [first?.id, 0],
      [expect.any(String), 0],
    ]);
    expect(sent[0]?.text).toBe(first?.text);
    expect(sent[1]?.text).toBe(answerOf("refuse me", scenario));
    expect(sent[1]?.via).toBe("create");
    expect(await feishuCalls(s)).toMatchObject({ update: 2, create: 2 });
    expect(done.outbox).toMatchObject([{ state: "sent", receipt: sent[1]?.id }]);
  }, 60_000);

  it("stream_replies off: one message with the whole reply, no edits", async () => {
    const scenario = { stream_words: 10, stream_every_ms: 50 };
    const s = await streamingFeishu(scenario, false);
    const user = feishuId("ou");
    const chat = feishuId("oc");
    await deliverFeishu(s, messageEvent(s, user, "quiet", { chatId: chat }));
    await settled(s.tenant.owner, feishuSessionKey(s, `dm:${user}`));
    const sent = await feishuSent(s, chat);
    expect(sent.map((m) => [m.text, m.edits])).toEqual([[answerOf("quiet", scenario), 0]]);
    expect((await feishuCalls(s)).update).toBe(0);
  }, 60_000);
});
