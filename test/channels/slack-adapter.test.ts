// The Slack adapter's pieces on their own: how chat.postMessage answers from the fake Web API map
// to send results (what is retried, after how long), and how long replies are split.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { splitForChannel } from "../../workers/channels/index.ts";
import { slack } from "../../workers/channels/slack.ts";
import { escapeSlack, mentions, splitSlack, stripMention } from "../../workers/channels/slack-text.ts";
import type { AccountConfig, SendIntent } from "../../workers/channels/types.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { newChannel, setupSlack, slackFail, slackSent, type SlackSetup } from "./slack-helpers.ts";

function accountOf(s: SlackSetup, tokenRef = "vault:slack-bot"): AccountConfig {
  return { id: s.accountId, tenantId: s.tenant.tenantId, channel: "slack", apiBaseUrl: env.FAKE_SLACK_URL, tokenRef, botUsername: "UBOT0001", sendIntervalMs: 0 };
}

function intent(chatId: string, text: string, threadId: string | null = null): SendIntent {
  return { key: `k#${crypto.randomUUID()}`, chatId, threadId, replyToId: null, inReplyTo: "m", text, callbackUrl: null };
}

describe("slack send results", () => {
  it("maps Slack's answers: ts receipt, 429 Retry-After, 5xx and ratelimited retryable, channel_not_found and invalid_auth not", async () => {
    const s = await setupSlack();
    const ch = newChannel("C");
    const ctx = { env, sockets: [] };
    const ok = await slack.send(intent(ch, "a < b & c", "1700000000.000100"), accountOf(s), ctx);
    const [sent] = await slackSent(s.botToken, ch);
    expect(ok).toEqual({ ok: true, receipt: sent?.ts });
    expect(sent).toMatchObject({ text: "a &lt; b &amp; c", thread_ts: "1700000000.000100" });

    await slackFail(s.botToken, "429", 1, { retry_after: 7 });
    expect(await slack.send(intent(ch, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: 7000 });
    await slackFail(s.botToken, "500", 1);
    expect(await slack.send(intent(ch, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true, retryAfterMs: null });
    await slackFail(s.botToken, "error", 1, { error: "ratelimited" });
    expect(await slack.send(intent(ch, "x"), accountOf(s), ctx)).toMatchObject({ ok: false, retryable: true });
    for (const error of ["channel_not_found", "not_in_channel"]) {
      await slackFail(s.botToken, "error", 1, { error });
      const res = await slack.send(intent(ch, "x"), accountOf(s), ctx);
      expect(res).toMatchObject({ ok: false, retryable: false });
      expect(res.ok ? "" : res.error).toContain(error);
    }
    // A token Slack does not know.
    expectStatus(await admin(s.tenant.owner, "PUT", "/secrets/bad-token", { tenant_id: s.tenant.tenantId, value: "xoxp-not-a-bot" }), 201);
    const bad = await slack.send(intent(ch, "x"), accountOf(s, "vault:bad-token"), ctx);
    expect(bad).toMatchObject({ ok: false, retryable: false });
    expect(bad.ok ? "" : bad.error).toContain("invalid_auth");
    // A reference to a secret the tenant does not have: not retried, and no value in the error.
    const missing = await slack.send(intent(ch, "x"), accountOf(s, "vault:nope"), ctx);
    expect(missing).toMatchObject({ ok: false, retryable: false });
    // Only the first, successful call delivered anything.
    expect(await slackSent(s.botToken, ch)).toHaveLength(1);
  });
});

describe("slack reply splitting", () => {
  it("keeps short replies whole and splits long ones at lines, each part within the limit", () => {
    expect(splitSlack("hello")).toEqual(["hello"]);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${"x".repeat(30)}`).join("\n");
    const parts = splitSlack(lines, 1000);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(1000);
    expect(parts.join("\n")).toBe(lines);
  });

  it("never cuts inside a code block that fits a message, and closes/reopens one that does not", () => {
    const prose = "word ".repeat(150).trim();
    const code = "```\n" + Array.from({ length: 20 }, (_, i) => `const v${i} = ${i};`).join("\n") + "\n```";
    const text = `${prose}\n${code}\nafter`;
    const parts = splitSlack(text, 1000);
    const withCode = parts.find((p) => p.includes("const v0"));
    expect(withCode).toContain(code);
    for (const p of parts) expect((p.match(/```/g) ?? []).length % 2).toBe(0);

    const huge = "```\n" + Array.from({ length: 300 }, (_, i) => `row ${i}`).join("\n") + "\n```";
    const cut = splitSlack(huge, 500);
    expect(cut.length).toBeGreaterThan(1);
    for (const p of cut) {
      expect(p.length).toBeLessThanOrEqual(500);
      expect(p.startsWith("```")).toBe(true);
      expect(p.endsWith("```")).toBe(true);
    }
    // Every row survives, in order.
    const rows = cut.join("\n").match(/row \d+/g);
    expect(rows).toEqual(Array.from({ length: 300 }, (_, i) => `row ${i}`));
  });

  it("measures each part as sent: escaped angle brackets and ampersands count five and four", () => {
    // 2,000 '<' become 8,000 characters once escaped: one 3,000-character message cannot hold them.
    const brackets = "<".repeat(2_000);
    const parts = splitSlack(brackets);
    expect(parts.length).toBeGreaterThan(2);
    for (const p of parts) expect(escapeSlack(p).length).toBeLessThanOrEqual(3_000);
    expect(parts.join("")).toBe(brackets);
    const mixed = "a & b <c> ".repeat(400);
    for (const p of splitSlack(mixed, 500)) expect(escapeSlack(p).length).toBeLessThanOrEqual(500);
  });

  it("is what the core uses for Slack, and escaping keeps Slack's control characters out", () => {
    const long = "y ".repeat(2_000);
    expect(splitForChannel("slack", long)).toEqual(splitSlack(long));
    expect(splitForChannel("slack", long).every((p) => escapeSlack(p).length <= 3_000)).toBe(true);
    expect(escapeSlack("<!channel> & <@U1>")).toBe("&lt;!channel&gt; &amp; &lt;@U1&gt;");
  });
});

describe("slack mentions", () => {
  it("finds and strips the bot's own mention, with or without a label, and nobody else's", () => {
    expect(mentions("hi <@UBOT> there", "UBOT")).toBe(true);
    expect(mentions("hi <@UBOT|edgeclaw> there", "UBOT")).toBe(true);
    expect(mentions("hi <@UBOTTER> there", "UBOT")).toBe(false);
    expect(mentions("hi <@UOTHER> there", "UBOT")).toBe(false);
    expect(stripMention("<@UBOT|edgeclaw> what is <@UOTHER> doing? <@UBOT>", "UBOT")).toBe("what is <@UOTHER> doing?");
  });

  it("takes the id as text, never as a pattern", () => {
    // Ids are [A-Za-z0-9_] by the admin schema; the scan would not treat anything else as a pattern either.
    expect(mentions("<@UXYZ> hi", "U.*")).toBe(false);
    expect(mentions("<@U.*> hi", "U.*")).toBe(true);
  });
});
