// A platform's answer is read to a bound (workers/channels/platform-http.ts): a tenant admin may
// point api_base_url at their own server, and an answer read whole (GBs, or without end) would
// take down the isolate every tenant shares. Too large is a retryable failure with a clear error;
// the intent is retried and delivered once the platform answers normally. A platform's own error
// text is kept to a bound in the outbox.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { lineCall } from "../../workers/channels/line-api.ts";
import { discordCall } from "../../workers/channels/discord-rest.ts";
import { MAX_PLATFORM_ANSWER_BYTES, MAX_PLATFORM_ERROR_CHARS, PlatformAnswerTooLarge, readPlatformText } from "../../workers/channels/platform-http.ts";
import type { AccountConfig } from "../../workers/channels/types.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { deliver, dmUpdate, newChatId, newUpdateId, sentTo, sessionKeyFor, setupTelegram, waitFor } from "./helpers.ts";

async function failNextTelegram(token: string, kind: "huge" | "long_error", times: number): Promise<void> {
  const res = await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/fail`, { method: "POST", body: JSON.stringify({ kind, times }) });
  expect(res.status).toBe(200);
  await res.body?.cancel();
}

// A stream of `total` bytes in 64 KiB chunks, produced only as it is read.
function byteStream(total: number): { stream: ReadableStream<Uint8Array>; produced: () => number } {
  let produced = 0;
  const chunk = new Uint8Array(64 * 1024).fill(120);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= total) return controller.close();
      produced += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
  return { stream, produced: () => produced };
}

function hostileAccount(channel: "discord" | "line"): AccountConfig {
  return { id: `acct-${crypto.randomUUID()}`, tenantId: "t-bounds", channel, apiBaseUrl: `${env.FAKE_TELEGRAM_URL}/huge`, tokenRef: null, botUsername: null, sendIntervalMs: 0 };
}

describe("bounded platform answers", () => {
  it("reads a small answer whole and refuses one past the bound, declared or not, without reading it all", async () => {
    expect(await readPlatformText(new Response('{"ok":true}'))).toBe('{"ok":true}');
    // Exactly the bound is still read.
    const exact = await readPlatformText(new Response("y".repeat(MAX_PLATFORM_ANSWER_BYTES)));
    expect(exact.length).toBe(MAX_PLATFORM_ANSWER_BYTES);

    // Undeclared length, 64 MiB on offer: cut after the bound, the rest never produced.
    const endless = byteStream(64 * 1024 * 1024);
    await expect(readPlatformText(new Response(endless.stream))).rejects.toBeInstanceOf(PlatformAnswerTooLarge);
    expect(endless.produced()).toBeLessThanOrEqual(MAX_PLATFORM_ANSWER_BYTES + 2 * 64 * 1024);

    // A declared length past the bound: refused before any read.
    const declared = byteStream(8 * 1024 * 1024);
    const big = new Response(declared.stream, { headers: { "content-length": String(8 * 1024 * 1024) } });
    await expect(readPlatformText(big)).rejects.toThrow(`exceeds ${MAX_PLATFORM_ANSWER_BYTES} bytes`);
    expect(declared.produced()).toBeLessThanOrEqual(2 * 64 * 1024);
  });

  it("a Discord or LINE send whose answer streams 4 MiB is a retryable failure with a clear error", async () => {
    const discord = await discordCall(env, hostileAccount("discord"), { method: "POST", path: "/channels/1/messages", label: "create message", botToken: "x.y.z", body: { content: "hi" } });
    expect(discord.result).toMatchObject({ ok: false, retryable: true });
    expect(!discord.result.ok && discord.result.error).toContain(`exceeds ${MAX_PLATFORM_ANSWER_BYTES} bytes`);

    const line = await lineCall(env, hostileAccount("line"), "token", { kind: "push", to: "U1", text: "hi", retryKey: crypto.randomUUID() });
    expect(line.result).toMatchObject({ ok: false, retryable: true });
    expect(!line.result.ok && line.result.error).toContain(`exceeds ${MAX_PLATFORM_ANSWER_BYTES} bytes`);
  });

  it("a Telegram send answered with 4 MiB is retried and delivered once; the isolate keeps serving", async () => {
    const s = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    await failNextTelegram(s.token, "huge", 2);
    const res = await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "through the flood"));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const sent = await waitFor(() => sentTo(s.token, chat), (m) => m.length >= 1, 60_000, 250);
    // The fake recorded nothing for the two huge answers (they never reached its recording), so
    // the one recorded send is the retry that got a normal answer.
    expect(sent.map((m) => m.text)).toEqual(["echo: through the flood"]);
    const exported = expectStatus(await admin(s.tenant.owner, "GET", `/sessions/${encodeURIComponent(sessionKeyFor(s, chat))}/export`), 200);
    expect(exported.body.outbox.map((o: any) => o.state)).toEqual(["sent"]);
    expect(exported.body.outbox[0].attempts).toBeGreaterThanOrEqual(3);
    // Another chat of the same bot is served normally afterwards.
    const other = newChatId();
    await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), other, "after"))).body?.cancel();
    expect((await waitFor(() => sentTo(s.token, other), (m) => m.length >= 1, 30_000, 250)).map((m) => m.text)).toEqual(["echo: after"]);
  }, 90_000);

  it("a platform's 20,000-character error text is stored bounded", async () => {
    const s = await setupTelegram({ ownToken: true });
    const chat = newChatId();
    await failNextTelegram(s.token, "long_error", 1);
    await (await deliver(s.accountId, s.secret, dmUpdate(newUpdateId(), chat, "refused"))).body?.cancel();
    const key = encodeURIComponent(sessionKeyFor(s, chat));
    const exported = await waitFor(
      () => admin(s.tenant.owner, "GET", `/sessions/${key}/export`),
      (e) => (e.body.outbox ?? []).some((o: any) => typeof o.last_error === "string" && o.last_error.includes("Bad Request")),
      30_000,
      250,
    );
    const error = exported.body.outbox.find((o: any) => typeof o.last_error === "string").last_error as string;
    expect(error).toContain("telegram sendMessage 400: Bad Request: xxx");
    expect(error.length).toBeLessThanOrEqual(MAX_PLATFORM_ERROR_CHARS + 100);
  }, 60_000);
});
