// Slack Events API webhooks end to end inside workerd: the v0 signature (computed here
// independently), url_verification, DMs, mentions and threads, what is ignored, slash commands,
// and the replies at the fake Web API.
import { describe, expect, it } from "vitest";
import { admin, token } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import {
  BOT_USER,
  channelEvent,
  deliverSlack,
  dmEvent,
  eventCallback,
  newChannel,
  newTs,
  setupSlack,
  slackSent,
  slackSessionKey,
  slackSignature,
  slashBody,
  type SlackSetup,
} from "./slack-helpers.ts";

async function statusOf(res: Response): Promise<string> {
  expect(res.status).toBe(200);
  return ((await res.json()) as { status: string }).status;
}

async function sessions(s: SlackSetup): Promise<string[]> {
  return (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.key);
}

describe("slack webhook", () => {
  it("answers url_verification with the challenge, only when signed", async () => {
    const s = await setupSlack();
    const body = { token: "legacy", challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", type: "url_verification" };
    const ok = await deliverSlack(s, body);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ challenge: body.challenge });
    const forged = await deliverSlack(s, body, { secret: "not-the-signing-secret" });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as any).error.code).toBe("invalid_signature");
  });

  it("answers a DM, and a DM in a thread in that thread, each thread its own session", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    expect(await statusOf(await deliverSlack(s, dmEvent(dm, "UALICE", "hello &lt;there&gt; &amp; you")))).toBe("accepted");
    const first = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1);
    // Slack's escaping undone for the agent, redone for the reply.
    expect(first.map((m) => [m.text, m.thread_ts])).toEqual([["echo: hello &lt;there&gt; &amp; you", null]]);
    const thread = newTs();
    expect(await statusOf(await deliverSlack(s, dmEvent(dm, "UALICE", "in a thread", { thread_ts: thread })))).toBe("accepted");
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 2);
    expect(sent[1]).toMatchObject({ text: "echo: in a thread", thread_ts: thread });
    const history = await exportSession(s.tenant.owner, slackSessionKey(s, "dm:UALICE"));
    expect(history.history.map((h: any) => h.content)).toEqual(["hello <there> & you", "echo: hello <there> & you"]);
    expect((await sessions(s)).sort()).toEqual([slackSessionKey(s, "dm:UALICE"), slackSessionKey(s, `dm:UALICE/thread:${thread}`)].sort());
  });

  it("answers a channel only when addressed, in a thread under the mention, without the mention", async () => {
    const s = await setupSlack();
    const ch = newChannel("C");
    expect(await statusOf(await deliverSlack(s, channelEvent("message", ch, "UBOB", "just chatting")))).toBe("ignored");
    const mention = channelEvent("app_mention", ch, "UBOB", `<@${BOT_USER}> what time is it`);
    expect(await statusOf(await deliverSlack(s, mention))).toBe("accepted");
    // With message.channels subscribed too, Slack sends the same mention again as a `message`
    // under another event id: it is the same message, answered once.
    const echo = eventCallback({ ...mention.event, type: "message", channel_type: "channel" });
    expect(await statusOf(await deliverSlack(s, echo))).toBe("duplicate");
    const inText = channelEvent("message", ch, "UCAROL", `hey <@${BOT_USER}|edgeclaw> and you?`);
    expect(await statusOf(await deliverSlack(s, inText))).toBe("accepted");
    const sent = await waitFor(() => slackSent(s.botToken, ch), (m) => m.length >= 2);
    expect(sent.map((m) => m.text)).toEqual(["echo: what time is it", "echo: hey and you?"]);
    expect(sent.map((m) => m.thread_ts)).toEqual([mention.event.ts, inText.event.ts]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await slackSent(s.botToken, ch)).toHaveLength(2);
    // Each mention is answered in a thread under it, and that thread is its own conversation: a
    // follow-up in it reaches the same session.
    const threads = [mention.event.ts, inText.event.ts].map((ts) => slackSessionKey(s, `group:${ch}/thread:${ts}`));
    expect((await sessions(s)).sort()).toEqual([...threads].sort());
    const followUp = channelEvent("message", ch, "UBOB", `<@${BOT_USER}> and tomorrow?`, { thread_ts: mention.event.ts });
    expect(await statusOf(await deliverSlack(s, followUp))).toBe("accepted");
    const more = await waitFor(() => slackSent(s.botToken, ch), (m) => m.length >= 3);
    expect(more[2]).toMatchObject({ text: "echo: and tomorrow?", thread_ts: mention.event.ts });
    expect((await sessions(s)).sort()).toEqual([...threads].sort());
  });

  it("ignores bot messages, its own, edits, deletes and other subtypes", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    const ignored = [
      dmEvent(dm, "UALICE", "from a bot", { bot_id: "B123" }),
      dmEvent(dm, "UALICE", "bot message", { subtype: "bot_message" }),
      dmEvent(dm, BOT_USER, "my own reply"),
      dmEvent(dm, "UALICE", "edited", { subtype: "message_changed" }),
      dmEvent(dm, "UALICE", "", { subtype: "message_deleted" }),
      dmEvent(dm, "UALICE", "joined", { subtype: "channel_join" }),
      eventCallback({ type: "reaction_added", user: "UALICE", reaction: "thumbsup" }),
      { type: "app_rate_limited", team_id: "T0001", minute_rate_limited: 1 },
    ];
    for (const event of ignored) expect(await statusOf(await deliverSlack(s, event))).toBe("ignored");
    // A file shared without a comment still reaches the agent, as a placeholder.
    const file = dmEvent(dm, "UALICE", "", { subtype: "file_share", files: [{ id: "F1", name: "plan.pdf", mimetype: "application/pdf" }] });
    expect(await statusOf(await deliverSlack(s, file))).toBe("accepted");
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1);
    expect(sent.map((m) => m.text)).toEqual(["echo: [file: plan.pdf]"]);
    expect(await sessions(s)).toEqual([slackSessionKey(s, "dm:UALICE")]);
  });

  it("refuses forged, wrongly keyed, replayed and malformed deliveries, and none reaches a session", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    const event = dmEvent(dm, "UMALLORY", "let me in");
    const raw = JSON.stringify(event);
    const now = Math.floor(Date.now() / 1000);
    const good = await slackSignature(s.signingSecret, String(now), raw);
    const refused = [
      await deliverSlack(s, event, { signature: null }),
      await deliverSlack(s, event, { secret: `${s.signingSecret}x` }),
      // A valid signature over a different body.
      await deliverSlack(s, raw.replace("let me in", "let me out"), { signature: good, timestamp: now }),
      await deliverSlack(s, event, { signature: `v0=${"0".repeat(64)}` }),
      await deliverSlack(s, event, { signature: good.replace("v0=", "v1=") }),
      await deliverSlack(s, event, { signature: good.toUpperCase() }),
      // Replays: a correct signature over a timestamp outside the 5-minute window, read from the
      // clock right before each delivery (a slow host can take seconds to reach these lines, and a
      // `now + 301` computed at the start would then fall inside the window).
      await deliverSlack(s, event, { timestamp: Math.floor(Date.now() / 1000) - 330 }),
      await deliverSlack(s, event, { timestamp: Math.floor(Date.now() / 1000) + 330 }),
      await deliverSlack(s, event, { signature: good, timestamp: now - 600 }),
    ];
    for (const res of refused) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toBe("invalid_signature");
    }
    // Signed correctly but malformed: 400 with a JSON error, never a 500.
    const deep = JSON.stringify(dmEvent(dm, "UMALLORY", "deep", { blocks: JSON.parse(`${"[".repeat(200)}${"]".repeat(200)}`) }));
    const malformed = ["{not json", JSON.stringify({ type: "event_callback", event: { type: "message" } }), JSON.stringify({ no: "type" }), deep];
    for (const body of malformed) {
      const res = await deliverSlack(s, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.code).toMatch(/^invalid_/);
    }
    const badSlash = await deliverSlack(s, "command=%2Fedgeclaw&text=reset", { contentType: "application/x-www-form-urlencoded" });
    expect(badSlash.status).toBe(400);
    // An account of another channel or none at all.
    const unknown = await deliverSlack({ ...s, accountId: "chn_doesnotexist" }, event);
    expect(unknown.status).toBe(404);
    expect(await sessions(s)).toEqual([]);
    expect(await slackSent(s.botToken)).toEqual([]);
  });

  it("handles reset/start words and the /edgeclaw slash command", async () => {
    const s = await setupSlack();
    const dm = newChannel("D");
    await deliverSlack(s, dmEvent(dm, "UALICE", "remember me"));
    await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 1);
    const key = slackSessionKey(s, "dm:UALICE");
    expect((await exportSession(s.tenant.owner, key)).history).toHaveLength(2);
    const slash = await deliverSlack(s, slashBody({ text: "reset", user_id: "UALICE", user_name: "alice", channel_id: dm }), { contentType: "application/x-www-form-urlencoded" });
    expect(slash.status).toBe(200);
    // Slack shows this answer to the user who typed the command.
    expect(await slash.json()).toEqual({ response_type: "ephemeral", text: "On it." });
    const sent = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 2);
    expect(sent[1]?.text).toMatch(/starts over/);
    expect((await exportSession(s.tenant.owner, key)).history).toEqual([]);
    // "start" typed as a message is the greeting command.
    await deliverSlack(s, dmEvent(dm, "UALICE", "Start"));
    const greeted = await waitFor(() => slackSent(s.botToken, dm), (m) => m.length >= 3);
    expect(greeted[2]?.text).toMatch(/^Hi!/);
  });

  it("creates Slack accounts with vault references only for its tenant admins, and prints the Request URL", async () => {
    const s = await setupSlack();
    const list = await admin(s.tenant.owner, "GET", `/channel-accounts?tenant_id=${s.tenant.tenantId}`);
    expect(list.body.data[0]).toMatchObject({
      channel: "slack",
      token_ref: "vault:slack-bot",
      signing_secret_ref: "vault:slack-signing",
      bot_username: BOT_USER,
      webhook_path: `/webhooks/slack/${s.accountId}`,
    });
    expect(JSON.stringify(list.body)).not.toContain(s.signingSecret);
    const base = { tenant_id: s.tenant.tenantId, channel: "slack", token_ref: "vault:slack-bot", signing_secret_ref: "vault:slack-signing", bot_username: BOT_USER };
    const missing = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, name: "nosig", signing_secret_ref: undefined });
    expect(missing.status).toBe(400);
    const wrongPrefix = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, name: "tgtoken", token_ref: "TELEGRAM_TEST_BOT" });
    expect(wrongPrefix.status).toBe(400);
    const telegramSig = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, channel: "telegram", name: "tgsig", token_ref: "TELEGRAM_TEST_BOT" });
    expect(telegramSig.status).toBe(400);
    // A deployment-wide SLACK_* secret is an owner's to reference, never a tenant admin's.
    const tenantAdmin = await token({ sub: `admin-of-${s.tenant.tenantId}`, role: "admin", tenant: s.tenant.tenantId });
    const deployment = await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "deploysig", signing_secret_ref: "SLACK_SIGNING" });
    expect(deployment.status).toBe(403);
    expect(deployment.body.error.message).toContain("signing_secret_ref");
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "ownvault" })).status).toBe(201);
  });
});
