// A reply target that is a credential (a Discord interaction token, a LINE reply token) is kept
// by the session to send with, but the admin export, which viewers may read, never shows it:
// with it a viewer could post and edit as the bot through the interaction webhook for 15 minutes.
import { describe, expect, it } from "vitest";
import { redactReplyTarget } from "../../workers/channels/reply-credentials.ts";
import { ackOf, command, deliverDiscord, discordMessages, discordSessionKey, setupDiscord, snowflake } from "./discord-helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";

describe("reply targets that are credentials", () => {
  it("the admin export of a Discord session shows no interaction token", async () => {
    const s = await setupDiscord();
    const channel = snowflake();
    const ask = command(s, "ask", { text: "hello", channel, user: "300000000000000009" });
    expect(await ackOf(await deliverDiscord(s, ask))).toEqual({ type: 5 });
    await waitFor(() => discordMessages(s.appId), (m) => m.length >= 1);
    const exported = await exportSession(s.tenant.owner, discordSessionKey(s, `group:${channel}`));
    expect(exported.outbox).toHaveLength(1);
    expect(JSON.parse(exported.outbox[0].intent).replyToId).toBe(`interaction:${s.appId}:[redacted]`);
    expect(JSON.stringify(exported)).not.toContain(ask.token);
  });

  it("redacts the token of interaction and LINE reply-token targets, and nothing else", () => {
    expect(redactReplyTarget("interaction:1234:aW50ZXJhY3Rpb24")).toBe("interaction:1234:[redacted]");
    expect(redactReplyTarget("rt:1764370000000:abcdef0123")).toBe("rt:1764370000000:[redacted]");
    expect(redactReplyTarget("1234567890")).toBe("1234567890");
    expect(redactReplyTarget(null)).toBeNull();
  });
});
