// Platform-wide send limits (docs/channels.md): every chat of a bot shares one SendLimiter
// Durable Object per account, so a burst across many chats stays under the platform's bot-wide
// limit (the fake Telegram enforces one, per bot token), a platform 429 pauses every chat of the
// bot, and channels without an account limit (WebChat, hooks) never call the limiter.
// Each test's bot has its own token (a vault secret of its own tenant), so the fake's limit and
// recordings are this test's alone.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Rejected, SentMessage } from "../fakes/telegram.ts";
import { admin, call, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { connect, deliver, dmUpdate, groupUpdate, hookHeaders, newChatId, newPeer, newUpdateId, setupChannel, setupTelegram, waitFor } from "./helpers.ts";

// No per-chat gap: only the account-wide limit spaces the sends out.
const limitedBot = (limits?: Record<string, unknown>) => setupTelegram({ ownToken: true, sendIntervalMs: 0, limits });

async function fakeControl<T>(token: string, what: string, body?: unknown): Promise<T> {
  const res = await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/${what}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return (await res.json()) as T;
}

const allSent = (token: string) => fakeControl<SentMessage[]>(token, "sent");
const rejected = (token: string) => fakeControl<Rejected[]>(token, "rejected");
const limiter = (accountId: string) => env.SEND_LIMITERS.get(env.SEND_LIMITERS.idFromName(accountId));

describe("platform-wide send limits", () => {
  it("spreads a burst across many chats under the bot-wide limit: no 429, every reply once, in order per chat", { timeout: 120_000 }, async () => {
    // The account's own limit (10/s, no burst) well below the platform's (the fake: 25 in any
    // second), so that sends the limiter spaced out but a loaded host delayed and bunched still fit;
    // without the limiter this burst reaches the fake far faster than that.
    const bot = await limitedBot({ account_sends_per_s: 10, account_send_burst: 1 });
    await fakeControl(bot.token, "limit", { per_second: 25 });
    const chats = Array.from({ length: 80 }, () => newChatId());
    for (const round of [1, 2]) {
      const answers = await Promise.all(chats.map((chat) => deliver(bot.accountId, bot.secret, dmUpdate(newUpdateId(), chat, `c${chat} m${round}`))));
      expect(answers.map((r) => r.status)).toEqual(chats.map(() => 200));
    }
    const sent = await waitFor(() => allSent(bot.token), (l) => l.length >= chats.length * 2, 100_000, 250);
    expect(await rejected(bot.token)).toEqual([]);
    expect(sent).toHaveLength(chats.length * 2);
    for (const chat of chats) {
      expect(sent.filter((m) => m.chat_id === String(chat)).map((m) => m.text)).toEqual([`echo: c${chat} m1`, `echo: c${chat} m2`]);
    }
    // Every send asked the account's limiter.
    expect((await limiter(bot.accountId).state()).takes).toBeGreaterThanOrEqual(chats.length * 2);
  });

  it("a 429 from the platform pauses every chat of the bot for its Retry-After", { timeout: 60_000 }, async () => {
    const bot = await limitedBot();
    await fakeControl(bot.token, "fail", { kind: "429", times: 1, retry_after: 3 });
    const first = newChatId();
    expect((await deliver(bot.accountId, bot.secret, dmUpdate(newUpdateId(), first, "first"))).status).toBe(200);
    const refusal = await waitFor(() => rejected(bot.token), (l) => l.length >= 1);
    expect(refusal).toHaveLength(1);
    const { pausedUntil } = await waitFor(() => limiter(bot.accountId).state(), (st) => st.pausedUntil > 0);
    expect(pausedUntil).toBeGreaterThanOrEqual((refusal[0] as Rejected).at + 3000);
    // Other chats of the same bot, which did not get the 429 themselves, wait out the pause too.
    const others = Array.from({ length: 5 }, () => newChatId());
    for (const chat of others) expect((await deliver(bot.accountId, bot.secret, dmUpdate(newUpdateId(), chat, `hi ${chat}`))).status).toBe(200);
    const sent = await waitFor(() => allSent(bot.token), (l) => l.length >= others.length + 1);
    expect(sent.map((m) => m.text).sort()).toEqual(["echo: first", ...others.map((c) => `echo: hi ${c}`)].sort());
    for (const m of sent) expect(m.at).toBeGreaterThanOrEqual(pausedUntil);
    expect(await rejected(bot.token)).toHaveLength(1);
  });

  it("a 429 into a group backs off that chat only: the bot is not paused", { timeout: 60_000 }, async () => {
    const bot = await limitedBot();
    await fakeControl(bot.token, "fail", { kind: "429", times: 1, retry_after: 2 });
    const group = -newChatId();
    expect((await deliver(bot.accountId, bot.secret, groupUpdate(newUpdateId(), group, newChatId(), "@edgeclaw_bot hi"))).status).toBe(200);
    expect(await waitFor(() => rejected(bot.token), (l) => l.length >= 1)).toHaveLength(1);
    // The group's own retry comes after its Retry-After; meanwhile the bot stays unpaused.
    const sent = await waitFor(() => allSent(bot.token), (l) => l.length >= 1);
    expect(sent.map((m) => m.chat_id)).toEqual([String(group)]);
    expect((await limiter(bot.accountId).state()).pausedUntil).toBe(0);
  });

  it("WebChat and hooks have no account limit and never call the limiter", { timeout: 60_000 }, async () => {
    const hook = await setupChannel("hook");
    const run = expectStatus(await call("POST", "/hooks/agent", { body: { text: "report", peer: "ci" }, headers: hookHeaders(hook.token, "run-1") }), 202);
    const done = await waitFor(
      () => call("GET", run.body.poll_url, { headers: hookHeaders(hook.token) }),
      (a) => a.body.status === "done",
    );
    expect(done.body).toMatchObject({ status: "done", reply: "echo: report" });

    const web = await setupChannel("webchat");
    const socket = await connect(web.accountId, newPeer());
    socket.ws.send(JSON.stringify({ type: "message", id: "m1", text: "hello" }));
    await waitFor(async () => socket.frames.filter((f) => f.type === "reply").length, (n) => n >= 1);
    expect(socket.frames.filter((f) => f.type === "reply").map((f) => f.text)).toEqual(["echo: hello"]);
    socket.ws.close();

    for (const accountId of [hook.accountId, web.accountId]) expect(await limiter(accountId).state()).toEqual({ pausedUntil: 0, takes: 0 });
  });

  it("refuses account send limits out of bounds with 400, and keeps valid ones", { timeout: 60_000 }, async () => {
    const tenant = await makeTenant();
    const bad: Record<string, unknown>[] = [
      { account_sends_per_s: 0 },
      { account_sends_per_s: 1001 },
      { account_sends_per_s: 2.5 },
      { account_sends_per_s: "10" },
      { account_send_burst: 0 },
      { account_send_burst: 5000 },
      { account_sends_per_s: null },
    ];
    for (const limits of bad) {
      const answer = await admin(tenant.owner, "POST", "/channel-accounts", {
        tenant_id: tenant.tenantId,
        channel: "telegram",
        name: "bot",
        api_base_url: env.FAKE_TELEGRAM_URL,
        token_ref: "TELEGRAM_TEST_BOT",
        limits,
      });
      expect([limits, answer.status, typeof answer.body?.error?.code]).toEqual([limits, 400, "string"]);
    }
    const good = expectStatus(
      await admin(tenant.owner, "POST", "/channel-accounts", {
        tenant_id: tenant.tenantId,
        channel: "telegram",
        name: "bot",
        api_base_url: env.FAKE_TELEGRAM_URL,
        token_ref: "TELEGRAM_TEST_BOT",
        limits: { account_sends_per_s: 5, account_send_burst: 2 },
      }),
      201,
    );
    expect(good.body.limits).toMatchObject({ account_sends_per_s: 5, account_send_burst: 2 });
  });
});
