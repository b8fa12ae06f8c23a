// Discord's Interactions endpoint end to end inside workerd: signatures from a real Ed25519 key
// pair (tweetnacl) cross-checked with discord-interactions' verifyKey, PING/PONG, /ask answered
// with a deferred ack and then the interaction's @original at the fake REST API, /reset, what is
// ignored, and the admin API's Discord accounts.
import { verifyKey } from "discord-interactions";
import nacl from "tweetnacl";
import { describe, expect, it } from "vitest";
import { admin, token } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import {
  ackOf,
  command,
  deliverDiscord,
  discordMessages,
  discordRequests,
  discordSessionKey,
  discordSignature,
  hex,
  setupDiscord,
  snowflake,
  type DiscordSetup,
} from "./discord-helpers.ts";

async function sessions(s: DiscordSetup): Promise<string[]> {
  return (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.key);
}

describe("discord interactions: signatures", () => {
  it("accepts exactly what discord-interactions' verifyKey accepts (inside the window), and refuses the rest with 401; none reaches a session", async () => {
    const s = await setupDiscord();
    const other = nacl.sign.keyPair();
    const publicKey = hex(s.keys.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const ping = JSON.stringify({ id: snowflake(), application_id: s.appId, type: 1, token: "ping-token", version: 1 });
    const cases: { name: string; body: string; timestamp: string; signature: string; ours: boolean; theirs: boolean }[] = [];
    const good = discordSignature(s.keys.secretKey, String(now), ping);
    cases.push({ name: "valid", body: ping, timestamp: String(now), signature: good, ours: true, theirs: true });
    cases.push({ name: "forged body", body: ping.replace('"type":1', '"type":2'), timestamp: String(now), signature: good, ours: false, theirs: false });
    cases.push({ name: "wrong key", body: ping, timestamp: String(now), signature: discordSignature(other.secretKey, String(now), ping), ours: false, theirs: false });
    cases.push({ name: "other timestamp", body: ping, timestamp: String(now - 1), signature: good, ours: false, theirs: false });
    cases.push({ name: "zero signature", body: ping, timestamp: String(now), signature: "0".repeat(128), ours: false, theirs: false });
    cases.push({ name: "short signature", body: ping, timestamp: String(now), signature: good.slice(0, 126), ours: false, theirs: false });
    cases.push({ name: "not hex", body: ping, timestamp: String(now), signature: `zz${good.slice(2)}`, ours: false, theirs: false });
    // A replay: a correct signature over a timestamp outside the 5-minute window. verifyKey checks
    // the signature only (it is valid); the endpoint refuses it for its age.
    // (Margins past 300 s: the cases run some seconds after \`now\` on a loaded machine.)
    for (const age of [330, -360, 3_600]) {
      const ts = String(now - age);
      cases.push({ name: `replay ${age}s`, body: ping, timestamp: ts, signature: discordSignature(s.keys.secretKey, ts, ping), ours: false, theirs: true });
    }
    for (const c of cases) {
      expect(await verifyKey(c.body, c.signature, c.timestamp, publicKey), c.name).toBe(c.theirs);
      const res = await deliverDiscord(s, c.body, { signature: c.signature, timestampHeader: c.timestamp });
      if (c.ours) {
        expect(res.status, c.name).toBe(200);
        expect(await res.json()).toEqual({ type: 1 });
      } else {
        expect(res.status, c.name).toBe(401);
        expect(((await res.json()) as any).error.code).toBe("invalid_signature");
      }
    }
    // Malformed headers: missing either one, a timestamp that is not a number.
    const ask = command(s, "ask", { text: "let me in" });
    const malformed = [
      await deliverDiscord(s, ask, { signature: null }),
      await deliverDiscord(s, ask, { timestampHeader: null }),
      await deliverDiscord(s, ask, { timestampHeader: "yesterday" }),
      await deliverDiscord(s, ask, { secretKey: other.secretKey }),
      await deliverDiscord(s, ask, { timestamp: now - 400 }),
    ];
    for (const res of malformed) expect(res.status).toBe(401);
    expect(await sessions(s)).toEqual([]);
    expect(await discordRequests(s.appId)).toEqual([]);
    expect(await discordRequests(s.botToken)).toEqual([]);
  });

  it("answers signed but malformed interactions 400 with a JSON error, never a 500, and records nothing", async () => {
    const s = await setupDiscord();
    const good = command(s, "ask", { text: "hi" });
    const bodies = [
      "{not json",
      JSON.stringify({ no: "type" }),
      // A command without its token, with a token outside the charset, without a user.
      JSON.stringify({ ...good, token: undefined }),
      JSON.stringify({ ...good, token: "../../../etc" }),
      JSON.stringify({ ...good, member: undefined }),
      JSON.stringify({ ...good, id: "not-a-snowflake" }),
      JSON.stringify({ ...good, data: { name: "ask", options: [{ name: "text", type: 3, value: "x".repeat(6_001) }] } }),
      JSON.stringify({ ...good, extra: JSON.parse(`${"[".repeat(200)}${"]".repeat(200)}`) }),
    ];
    for (const body of bodies) {
      const res = await deliverDiscord(s, body);
      expect(res.status, body.slice(0, 80)).toBe(400);
      expect(((await res.json()) as any).error.code).toMatch(/^invalid_/);
    }
    expect(await sessions(s)).toEqual([]);
  });
});

describe("discord interactions: commands", () => {
  it("answers PING with PONG even before anything is bound", async () => {
    const s = await setupDiscord();
    const res = await deliverDiscord(s, { id: snowflake(), application_id: s.appId, type: 1, token: "t", version: 1, user: { id: "1" } });
    expect(await ackOf(res)).toEqual({ type: 1 });
  });

  it("/ask in a guild: a deferred ack, then the reply replaces the interaction's @original", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ask = command(s, "ask", { text: "what is 2+2?", channel, user: "300000000000000001" });
    expect(await ackOf(await deliverDiscord(s, ask))).toEqual({ type: 5 });
    const messages = await waitFor(() => discordMessages(s.appId), (m) => m.length >= 1);
    expect(messages.map((m) => [m.content, m.channel_id, m.original, m.interaction_token])).toEqual([["echo: what is 2+2?", channel, true, ask.token]]);
    // The reply never pings anyone the model named.
    expect(messages[0]?.allowed_mentions).toEqual({ parse: [] });
    const requests = await discordRequests(s.appId);
    expect(requests.map((r) => [r.method, r.path])).toEqual([["PATCH", `/webhooks/${s.appId}/${ask.token}/messages/@original`]]);
    // The interaction webhook needs no bot token: none was sent with it.
    expect(requests[0]?.bot).toBeNull();
    // The conversation is the guild channel; the receipt is the message id Discord returned.
    const key = discordSessionKey(s, `group:${channel}`);
    expect(await sessions(s)).toEqual([key]);
    const exported = await exportSession(s.tenant.owner, key);
    expect(exported.outbox.map((o: any) => [o.state, o.receipt])).toEqual([["sent", messages[0]?.id]]);
    expect(exported.history.map((h: any) => h.content)).toEqual(["what is 2+2?", "echo: what is 2+2?"]);
  });

  it("/ask in a DM is the user's conversation; /reset starts over; unknown commands, empty asks, components and autocomplete are acknowledged and ignored", async () => {
    const s = await setupDiscord();
    const dm = snowflake();
    const user = "300000000000000002";
    expect(await ackOf(await deliverDiscord(s, command(s, "ask", { text: "remember me", channel: dm, guild: null, user })))).toEqual({ type: 5 });
    await waitFor(() => discordMessages(s.appId, dm), (m) => m.length >= 1);
    const key = discordSessionKey(s, `dm:${user}`);
    expect((await exportSession(s.tenant.owner, key)).history).toHaveLength(2);
    const reset = command(s, "reset", { channel: dm, guild: null, user });
    expect(await ackOf(await deliverDiscord(s, reset))).toEqual({ type: 5 });
    const after = await waitFor(() => discordMessages(s.appId, dm), (m) => m.length >= 2);
    expect(after[1]?.content).toMatch(/starts over/);
    expect(after[1]?.interaction_token).toBe(reset.token);
    expect((await exportSession(s.tenant.owner, key)).history).toEqual([]);

    const ignored = [
      [command(s, "weather", { channel: dm, guild: null, user }), { type: 4, data: { content: "I know /ask and /reset.", flags: 64, allowed_mentions: { parse: [] } } }],
      [command(s, "ask", { text: "   ", channel: dm, guild: null, user }), { type: 4, data: { content: "Ask something: /ask text:<your question>", flags: 64, allowed_mentions: { parse: [] } } }],
      [{ ...command(s, "ask", { channel: dm, guild: null, user }), type: 3, data: { custom_id: "btn", component_type: 2 } }, { type: 6 }],
      [{ ...command(s, "ask", { channel: dm, guild: null, user }), type: 5, data: { custom_id: "modal", components: [] } }, { type: 6 }],
      [{ ...command(s, "ask", { text: "partial", channel: dm, guild: null, user }), type: 4 }, { type: 8, data: { choices: [] } }],
    ] as const;
    for (const [body, ack] of ignored) expect(await ackOf(await deliverDiscord(s, body))).toEqual(ack);
    await new Promise((r) => setTimeout(r, 300));
    expect(await discordMessages(s.appId, dm)).toHaveLength(2);
    expect(await sessions(s)).toEqual([key]);
  });

  it("explains refusals in an ephemeral message instead of a JSON Discord cannot show", async () => {
    const s = await setupDiscord();
    // No agent bound: remove the binding.
    const bindings = (await admin(s.tenant.owner, "GET", `/bindings?tenant_id=${s.tenant.tenantId}`)).body.data;
    for (const b of bindings) expect((await admin(s.tenant.owner, "DELETE", `/bindings/${b.id}`)).status).toBe(200);
    const ack = await ackOf(await deliverDiscord(s, command(s, "ask", { text: "anyone?" })));
    expect(ack).toEqual({ type: 4, data: { content: "No agent is bound to this Discord application yet.", flags: 64, allowed_mentions: { parse: [] } } });
    // A revoked tenant: still answered 200 (Discord would otherwise show an error), with why.
    expect((await admin(await token({ sub: "owner", role: "owner" }), "POST", `/tenants/${s.tenant.tenantId}/revoke`)).status).toBe(200);
    const revoked = await ackOf(await deliverDiscord(s, command(s, "ask", { text: "still there?" })));
    expect(revoked).toEqual({ type: 4, data: { content: "This EdgeClaw workspace is not active.", flags: 64, allowed_mentions: { parse: [] } } });
    expect(await sessions(s)).toEqual([]);
    expect(await discordRequests(s.appId)).toEqual([]);
  });
});

describe("discord accounts (admin API)", () => {
  it("creates and lists Discord accounts with the Interactions Endpoint path; refuses a missing public key, foreign prefixes and another tenant's vault", async () => {
    const s = await setupDiscord();
    const list = await admin(s.tenant.owner, "GET", `/channel-accounts?tenant_id=${s.tenant.tenantId}`);
    expect(list.body.data[0]).toMatchObject({
      channel: "discord",
      token_ref: "vault:discord-bot",
      public_key: hex(s.keys.publicKey),
      bot_username: s.botId,
      webhook_path: `/webhooks/discord/${s.accountId}`,
    });
    const base = { tenant_id: s.tenant.tenantId, channel: "discord", token_ref: "vault:discord-bot", public_key: hex(s.keys.publicKey), bot_username: s.botId };
    const refused = [
      { ...base, name: "nokey", public_key: undefined },
      { ...base, name: "shortkey", public_key: "ab".repeat(31) },
      { ...base, name: "notoken", token_ref: undefined },
      { ...base, name: "nobot", bot_username: undefined },
      { ...base, name: "slacktoken", token_ref: "SLACK_BOT" },
      { ...base, name: "tgtoken", token_ref: "TELEGRAM_TEST_BOT" },
      { ...base, name: "sig", signing_secret_ref: "vault:discord-bot" },
    ];
    for (const body of refused) expect((await admin(s.tenant.owner, "POST", "/channel-accounts", body)).status, body.name).toBe(400);
    // A deployment-wide DISCORD_* secret is an owner's to reference, never a tenant admin's.
    const tenantAdmin = await token({ sub: `admin-of-${s.tenant.tenantId}`, role: "admin", tenant: s.tenant.tenantId });
    const deployment = await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "deploy", token_ref: "DISCORD_BOT" });
    expect(deployment.status).toBe(403);
    // Another tenant's admin cannot create an account in this tenant (its vault ref would resolve here).
    const stranger = await setupDiscord();
    const strangerAdmin = await token({ sub: `admin-of-${stranger.tenant.tenantId}`, role: "admin", tenant: stranger.tenant.tenantId });
    expect((await admin(strangerAdmin, "POST", "/channel-accounts", { ...base, name: "theirs" })).status).toBe(403);
    // Its own account's vault: reference opens only its own tenant's secret.
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "ownvault" })).status).toBe(201);
  });
});
