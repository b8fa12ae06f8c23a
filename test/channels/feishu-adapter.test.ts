// The Feishu / Lark account and its token: the admin API (the URL to paste, required settings
// and references, prefixes), the FeishuTokenCache reachable for its own account only and the
// App Secret resolved in the account's own tenant, a private api_base_url refused, and the uuid.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { uuidOf } from "../../workers/channels/feishu-api.ts";
import { feishuBase, fetchTenantToken, refreshAtOf, TOKEN_REFRESH_MARGIN_MS } from "../../workers/channels/feishu-token.ts";
import { admin, expectStatus, makeTenant, token } from "../gateway/helpers.ts";
import { waitFor } from "./helpers.ts";
import { deliverFeishu, feishuCalls, feishuId, feishuSent, messageEvent, setupFeishu, statusOf } from "./feishu-helpers.ts";

describe("feishu accounts", () => {
  it("create prints /webhooks/feishu/<id> and the settings; refuses missing references or settings and wrong prefixes", async () => {
    const tenant = await makeTenant();
    const base = { tenant_id: tenant.tenantId, channel: "feishu", token_ref: "vault:app-secret", signing_secret_ref: "vault:encrypt-key", feishu: { app_id: "cli_a1b2c3", host: "lark" } };
    const made = expectStatus(await admin(tenant.owner, "POST", "/channel-accounts", { ...base, name: "one" }), 201);
    expect(made.body.webhook_path).toBe(`/webhooks/feishu/${made.body.id}`);
    expect(made.body.feishu).toEqual({ app_id: "cli_a1b2c3", host: "lark" });
    const { token_ref: _t, ...noToken } = base;
    const { signing_secret_ref: _s, ...noKey } = base;
    const { feishu: _f, ...noSettings } = base;
    const refused = [
      { ...noToken, name: "a" },
      { ...noKey, name: "b" },
      { ...noSettings, name: "c" },
      { ...base, name: "d", feishu: { app_id: "not-an-app" } },
      { ...base, name: "e", feishu: { app_id: "cli_x", host: "dingtalk" } },
      { ...base, name: "f", feishu: { app_id: "cli_x", bot_open_id: "ou_bad id" } },
      { ...base, name: "g", token_ref: "SLACK_APP_SECRET" },
      { ...base, name: "h", signing_secret_ref: "LINE_SECRET" },
      { ...base, name: "j", api_base_url: "http://10.1.2.3" },
      { ...base, name: "k", api_base_url: "http://169.254.169.254" },
    ];
    for (const body of refused) expect((await admin(tenant.owner, "POST", "/channel-accounts", body)).status, body.name).toBe(400);
    // The deployment's FEISHU_* Worker secrets are the owner's: a tenant admin names its vault.
    const tenantAdmin = await token({ sub: `admin-of-${tenant.tenantId}`, role: "admin", tenant: tenant.tenantId });
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "deploy", token_ref: "FEISHU_APP_SECRET" })).status).toBe(403);
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "own" })).status).toBe(201);
  });

  it("a token cache answers for its own account only, and an App Secret is resolved in the account's own tenant", async () => {
    const a = await setupFeishu();
    const b = await setupFeishu();
    // Asked through A's object for B's token: refused, nothing fetched.
    const stubA = env.FEISHU_TOKENS.get(env.FEISHU_TOKENS.idFromName(a.accountId));
    expect(await stubA.token(b.accountId, null)).toMatchObject({ ok: false, retryable: false, error: expect.stringContaining("another account") });
    expect((await feishuCalls(b)).token).toBe(0);
    // Tenant C configures A's App ID with "vault:feishu-secret", a name only A's tenant holds:
    // C's vault is asked, has none, and nothing is sent with A's secret.
    const c = await makeTenant();
    expectStatus(await admin(c.owner, "PUT", "/secrets/feishu-encrypt", { tenant_id: c.tenantId, value: "c-encrypt-key" }), 201);
    const agent = expectStatus(await admin(c.owner, "POST", "/agents", { tenant_id: c.tenantId, name: "h", system_prompt: "x", model: "fake-echo" }), 201);
    expectStatus(await admin(c.owner, "POST", "/bindings", { tenant_id: c.tenantId, agent_id: agent.body.id }), 201);
    const account = expectStatus(
      await admin(c.owner, "POST", "/channel-accounts", { tenant_id: c.tenantId, channel: "feishu", name: "copycat", api_base_url: env.FAKE_FEISHU_URL, token_ref: "vault:feishu-secret", signing_secret_ref: "vault:feishu-encrypt", feishu: { app_id: a.appId }, send_interval_ms: 0 }),
      201,
    );
    const copy = { ...a, tenant: c, accountId: account.body.id, encryptKey: "c-encrypt-key" };
    const chat = feishuId("oc");
    expect(await statusOf(await deliverFeishu(copy, messageEvent(copy, feishuId("ou"), "hi", { chatId: chat })))).toBe("accepted");
    const dead = await waitFor(() => admin(c.owner, "GET", `/dead-letters?tenant_id=${c.tenantId}`), (x) => x.body.data.length >= 1, 30_000, 250);
    expect(JSON.stringify(dead.body.data[0])).toContain("has no vault secret 'feishu-secret'");
    expect(await feishuCalls(a)).toMatchObject({ token: 0, create: 0 });
    expect(await feishuSent(a)).toEqual([]);
  });

  it("a private api_base_url is refused before the App Secret goes anywhere", async () => {
    const s = await setupFeishu();
    // A row written around the admin API's check (an older row, a direct edit): refused at use.
    await env.DB.prepare("UPDATE channel_accounts SET api_base_url = ? WHERE id = ?").bind("http://169.254.169.254", s.accountId).run();
    const got = await fetchTenantToken(env, s.accountId);
    expect(got).toMatchObject({ ok: false, retryable: false });
    expect(got.ok ? "" : got.error).toContain("api_base_url refused");
    expect((await feishuCalls(s)).token).toBe(0);
  });

  it("the uuid: 32 hex digits (Feishu takes 50), the same for every attempt of an intent, different for another", async () => {
    const one = await uuidOf({ key: "t/a/feishu/chn/dm:ou_1#1", inReplyTo: "ev1" });
    expect(one).toMatch(/^[0-9a-f]{32}$/);
    expect(await uuidOf({ key: "t/a/feishu/chn/dm:ou_1#1", inReplyTo: "ev1" })).toBe(one);
    expect(await uuidOf({ key: "t/a/feishu/chn/dm:ou_1#2", inReplyTo: "ev1" })).not.toBe(one);
    expect(await uuidOf({ key: "t/a/feishu/chn/dm:ou_1#1", inReplyTo: "ev2" })).not.toBe(one);
  });

  it("tokens are refreshed 30 minutes before expiry (half the life of a short one)", () => {
    expect(refreshAtOf(0, 7200)).toBe(7200_000 - TOKEN_REFRESH_MARGIN_MS);
    expect(refreshAtOf(1_000, 4)).toBe(3_000);
  });

  it("a reply Feishu refuses for good (the message was recalled) goes out as a new message in the chat", async () => {
    const s = await setupFeishu();
    const group = feishuId("oc");
    // The fake does not know this message (not announced): its /reply answers 230011.
    const event = messageEvent(s, feishuId("ou"), "@_user_1 still there?", { chatType: "group", chatId: group, mentions: [{ key: "@_user_1", openId: s.botOpenId }] });
    expect(await statusOf(await deliverFeishu(s, event))).toBe("accepted");
    const sent = await waitFor(() => feishuSent(s, group), (m) => m.length >= 1);
    expect(sent.map((m) => [m.text, m.via])).toEqual([["echo: still there?", "create"]]);
    expect(await feishuCalls(s)).toMatchObject({ reply: 1, create: 1 });
  });

  it("a group reply refused for the app's credentials is not tried again as a new message (one token request, one dead letter)", async () => {
    const s = await setupFeishu();
    expectStatus(await admin(s.tenant.owner, "PUT", "/secrets/feishu-secret", { tenant_id: s.tenant.tenantId, value: "wrong-secret" }), 200);
    const group = feishuId("oc");
    const event = messageEvent(s, feishuId("ou"), "@_user_1 hello", { chatType: "group", chatId: group, mentions: [{ key: "@_user_1", openId: s.botOpenId }] });
    expect(await statusOf(await deliverFeishu(s, event))).toBe("accepted");
    const dead = await waitFor(() => admin(s.tenant.owner, "GET", `/dead-letters?tenant_id=${s.tenant.tenantId}`), (a) => a.body.data.length >= 1, 30_000, 250);
    expect(JSON.stringify(dead.body.data[0])).toContain("code 10014");
    expect(await feishuCalls(s)).toMatchObject({ token: 1, reply: 0, create: 0 });
  });

  it("Lark accounts work the same (the host picks the default API base only)", async () => {
    const s = await setupFeishu({ host: "lark" });
    const chat = feishuId("oc");
    await deliverFeishu(s, messageEvent(s, feishuId("ou"), "hello lark", { chatId: chat }));
    expect((await waitFor(() => feishuSent(s, chat), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: hello lark"]);
    // Without api_base_url, the host picks the API: Lark's international one, or Feishu's.
    expect(feishuBase({ feishu: { app_id: "cli_x", host: "lark" } })).toBe("https://open.larksuite.com");
    expect(feishuBase({ feishu: { app_id: "cli_x", host: "feishu" } })).toBe("https://open.feishu.cn");
    expect(feishuBase({})).toBe("https://open.feishu.cn");
  });
});
