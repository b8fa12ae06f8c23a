// What the data plane writes about a failure never quotes a person: a dead letter's error class
// keeps only a known shape of the platform's error (the rest of it may quote a chat id or a name),
// and the depth mirror's warning names the session by its log pseudonym, never by the key (which
// embeds the peer or group id).
import { describe, expect, it, vi } from "vitest";
import type { SessionHost } from "../../durable-objects/session-store.ts";
import { errorSummary } from "../../workers/channels/audit-events.ts";
import { DepthMirror } from "../../workers/channels/depth.ts";

describe("dead letter error class", () => {
  it("keeps '<platform> <status>' or one of our own heads", () => {
    expect(errorSummary("telegram sendMessage 400: Bad Request: chat not found")).toBe("telegram 400");
    expect(errorSummary("whatsapp send 400 code 131047/2494: Re-engagement message")).toBe("whatsapp 400");
    expect(errorSummary("whatsapp 131026: Message undeliverable")).toBe("whatsapp 131026");
    expect(errorSummary("callback answered 503")).toBe("callback 503");
    expect(errorSummary("discord POST /channels/{id}/messages 429: You are being rate limited.")).toBe("discord 429");
    expect(errorSummary("feishu token 400: code 99991663 invalid app")).toBe("feishu 400");
    // Only the number is kept, never the words around it.
    expect(errorSummary("telegram sendMessage 400 5551234567 blocked")).toBe("telegram 400");
    expect(errorSummary("telegram 400 for chat 5551234567")).toBe("telegram 400");
    expect(errorSummary("tenant revoked: not sent")).toBe("tenant revoked");
    expect(errorSummary("bot token: vault secret absent")).toBe("bot token");
    expect(errorSummary("discord: the chat id is not a channel id")).toBe("discord");
  });

  it("anything else is send_failed, whatever a platform put in its text", () => {
    const chatId = "5551234567";
    for (const text of [
      `chat ${chatId} is blocked`,
      `user ${chatId} not found\nmore`,
      `telegram sendMessage ${chatId}: no`,
      `whatsapp ${chatId}: failed`,
      `mallory ${chatId} 400`,
      `${chatId}`,
      "",
      "x".repeat(10_000),
    ]) {
      const out = errorSummary(text);
      expect(out).toBe("send_failed");
      expect(out).not.toContain(chatId);
    }
  });
});

describe("depth mirror warning", () => {
  it("names the session by its log pseudonym, never the key", async () => {
    const key = "t_x/a_y/telegram/acc_z/dm:5551234567";
    const meta: Record<string, unknown> = { registered: true, log_ref: "ses_0123456789abcdef" };
    const host = {
      env: { DB: { prepare: () => ({ bind: () => ({ run: () => Promise.reject(new Error(`D1 refused for ${key}`.replace(key, "row"))) }) }) } },
      sql: { exec: () => ({ one: () => ({ n: 1 }) }) },
      generation: () => 1,
      meta: (k: string) => meta[k] ?? null,
      binding: () => ({ key }),
    } as unknown as SessionHost;
    const spy = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      await new DepthMirror().mirror(host, 1);
      const lines = spy.mock.calls.map((c) => String(c[0]));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ msg: expect.stringContaining("depth mirror failed"), session: "ses_0123456789abcdef" });
      expect(lines[0]).not.toContain("5551234567");
      expect(lines[0]).not.toContain(key);
    } finally {
      spy.mockRestore();
    }
  });
});
