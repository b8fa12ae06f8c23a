// The WhatsApp adapter's send against the fake Cloud API on its own: the request it makes (text
// with context, template with its body parameter), how Meta's answers map to send results
// (130429 account-wide, 131056 and 5xx retryable, 131047 -> template or dead letter, 190 and
// other 4xx dead), the window taken from the session, and what never sends (a bad token, another
// tenant's vault secret, a chat id that is no wa_id, a refused base URL, a stalled platform).
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { splitForChannel } from "../../workers/channels/index.ts";
import type { AccountConfig, SendIntent } from "../../workers/channels/types.ts";
import { whatsapp } from "../../workers/channels/whatsapp.ts";
import { GRAPH_VERSION, THROUGHPUT_PAUSE_MS } from "../../workers/channels/whatsapp-api.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { setupWhatsapp, waCalls, waFail, waSent, waUser, waWindow, wamid, type WaSetup, type WaTemplate } from "./whatsapp-helpers.ts";

function accountOf(s: WaSetup, o: { tokenRef?: string; apiBaseUrl?: string; template?: WaTemplate } = {}): AccountConfig {
  return {
    id: s.accountId,
    tenantId: s.tenant.tenantId,
    channel: "whatsapp",
    apiBaseUrl: o.apiBaseUrl ?? env.FAKE_WHATSAPP_URL,
    tokenRef: o.tokenRef ?? "vault:wa-token",
    botUsername: null,
    sendIntervalMs: 0,
    whatsapp: { phone_number_id: s.phoneNumberId, ...(o.template ? { template: { text_parameter: false, ...o.template } } : {}) },
  };
}

function intent(chatId: string, text: string, replyToId: string | null = null): SendIntent {
  return { key: `k#${crypto.randomUUID()}`, chatId, threadId: null, replyToId, inReplyTo: "m1", text, callbackUrl: null };
}

// The chat's last inbound message `agoMs` ago (null: none).
function ctx(agoMs: number | null = 0) {
  return { env, sockets: [], lastInboundAt: () => (agoMs === null ? null : Date.now() - agoMs) };
}

const template = { name: "follow_up", language: "pt_BR" };

describe("whatsapp send", () => {
  it("a text message quoting the answered one; the receipt is the wamid; the 4,096 split", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const quoted = wamid();
    const result = await whatsapp.send(intent(user, "olá", quoted), accountOf(s), ctx());
    const sent = await waSent(s, user);
    expect(result).toEqual({ ok: true, receipt: sent[0]?.id });
    expect(sent).toMatchObject([{ type: "text", text: "olá", context: quoted, phoneNumberId: s.phoneNumberId }]);
    expect(GRAPH_VERSION).toMatch(/^v\d+\.\d$/);
    const parts = splitForChannel("whatsapp", "word ".repeat(1_700).trim());
    expect(parts.length).toBe(3);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(4_096);
  });

  it("maps Meta's answers: 130429 account-wide, 131056 and 5xx retryable for the chat, 190 and 100 dead letters", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const send = () => whatsapp.send(intent(user, "x"), accountOf(s), ctx());
    await waFail(s, "130429", 1);
    const throughput = await send();
    expect(throughput).toMatchObject({ ok: false, retryable: true, retryAfterMs: THROUGHPUT_PAUSE_MS, accountWide: true });
    expect(throughput.ok ? "" : throughput.error).toContain("code 130429/2494055: (#130429) Rate limit hit - Cloud API message throughput has been reached.");
    // Meta's error table gives some codes their own HTTP status (130429 as 429): the code decides.
    await waFail(s, "status", 1, { status: 429, code: 130429, message: "(#130429) Rate limit hit" });
    expect(await send()).toMatchObject({ ok: false, retryable: true, retryAfterMs: THROUGHPUT_PAUSE_MS, accountWide: true });
    await waFail(s, "131056", 1);
    const pair = await send();
    expect(pair).toMatchObject({ ok: false, retryable: true, retryAfterMs: null });
    expect(pair.ok ? true : pair.accountWide).toBeFalsy();
    await waFail(s, "500", 1);
    expect(await send()).toMatchObject({ ok: false, retryable: true });
    await waFail(s, "status", 1, { status: 401, code: 190, message: "Error validating access token: Session has expired" });
    const expired = await send();
    expect(expired).toMatchObject({ ok: false, retryable: false });
    expect(expired.ok ? "" : expired.error).toContain("whatsapp send 401 code 190");
    await waFail(s, "status", 1, { status: 400, code: 100, message: "(#100) Invalid parameter" });
    expect(await send()).toMatchObject({ ok: false, retryable: false });
    await waFail(s, "status", 1, { status: 400, code: 80007, message: "(#80007) Rate limit issues" });
    expect(await send()).toMatchObject({ ok: false, retryable: true });
    // Temporary whatever the HTTP status: maintenance mode (a throughput upgrade), server unavailable.
    await waFail(s, "status", 1, { status: 400, code: 131057, message: "(#131057) Account in maintenance mode" });
    expect(await send()).toMatchObject({ ok: false, retryable: true });
    await waFail(s, "status", 1, { status: 400, code: 133004, message: "(#133004) Server temporarily unavailable" });
    expect(await send()).toMatchObject({ ok: false, retryable: true });
    // Over 4,096 characters is Meta's 400 (the core splits before this).
    expect(await whatsapp.send(intent(user, "y".repeat(4_097)), accountOf(s), ctx())).toMatchObject({ ok: false, retryable: false });
    expect(await waSent(s, user)).toEqual([]);
  });

  it("the 24-hour window: inside it free-form, outside it the template (no quote), without one a dead letter", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    expect(await whatsapp.send(intent(user, "fresh", wamid()), accountOf(s, { template }), ctx(23 * 3_600_000))).toMatchObject({ ok: true });
    expect(await whatsapp.send(intent(user, "stale", wamid()), accountOf(s, { template }), ctx(25 * 3_600_000))).toMatchObject({ ok: true });
    expect(await whatsapp.send(intent(user, "never wrote"), accountOf(s, { template: { ...template, text_parameter: true } }), ctx(null))).toMatchObject({ ok: true });
    expect(await waSent(s, user)).toMatchObject([
      { type: "text", text: "fresh" },
      { type: "template", context: null, template: { name: "follow_up", language: "pt_BR", parameters: [] } },
      { type: "template", template: { parameters: ["never wrote"] } },
    ]);
    const none = await whatsapp.send(intent(user, "stale"), accountOf(s), ctx(25 * 3_600_000));
    expect(none).toEqual({ ok: false, retryable: false, retryAfterMs: null, error: "outside WhatsApp's 24-hour customer-service window and no template configured" });
    // Meta's 131047 at once, no template: a dead letter naming the window.
    await waWindow(s, user, false, true);
    const refused = await whatsapp.send(intent(user, "x"), accountOf(s), ctx());
    expect(refused).toMatchObject({ ok: false, retryable: false });
    expect(refused.ok ? "" : refused.error).toContain("code 131047");
    expect(refused.ok ? "" : refused.error).toContain("24-hour customer-service window");
    expect(await waSent(s, user)).toHaveLength(3);
  });

  it("a template's text parameter is one line (Meta's 132018 otherwise), cut at 1,024 without splitting an emoji", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const account = accountOf(s, { template: { ...template, text_parameter: true } });
    const reply = "Here is the plan:\n\n1. Pack\n2.\tTravel      (early)\r\n";
    expect(await whatsapp.send(intent(user, reply), account, ctx(null))).toMatchObject({ ok: true });
    // 1,023 units and an emoji (two units): the emoji does not fit and is left out whole.
    const long = `${"a".repeat(1_023)}😀 and more`;
    expect(await whatsapp.send(intent(user, long), account, ctx(null))).toMatchObject({ ok: true });
    expect((await waSent(s, user)).map((m) => m.template?.parameters)).toEqual([["Here is the plan: 1. Pack 2. Travel (early)"], ["a".repeat(1_023)]]);
  });

  it("a bad token, another tenant's vault secret, a chat id that is no wa_id and a refused base URL never send", async () => {
    const s = await setupWhatsapp();
    const other = await setupWhatsapp();
    const user = waUser();
    expect(await whatsapp.send(intent(user, "x"), accountOf(s, { tokenRef: "vault:nope" }), ctx())).toMatchObject({ ok: false, retryable: false });
    // B's account naming a secret only A's vault holds: it resolves in B, where there is none.
    expectStatus(await admin(s.tenant.owner, "PUT", "/secrets/only-in-a", { tenant_id: s.tenant.tenantId, value: s.accessToken }), 201);
    const borrowed = await whatsapp.send(intent(user, "x"), { ...accountOf(other), tokenRef: "vault:only-in-a" }, ctx());
    expect(borrowed).toMatchObject({ ok: false, retryable: false });
    expect(borrowed.ok ? "" : borrowed.error).toContain("no vault secret 'only-in-a'");
    expect(borrowed.ok ? "" : borrowed.error).not.toContain(s.accessToken);
    expect(await whatsapp.send(intent("../../me", "x"), accountOf(s), ctx())).toMatchObject({ ok: false, retryable: false });
    const refused = await whatsapp.send(intent(user, "x"), accountOf(s, { apiBaseUrl: "http://169.254.169.254" }), ctx());
    expect(refused).toMatchObject({ ok: false, retryable: false });
    expect(refused.ok ? "" : refused.error).toContain("api_base_url refused");
    const noSettings = await whatsapp.send(intent(user, "x"), { ...accountOf(s), whatsapp: undefined }, ctx());
    expect(noSettings).toMatchObject({ ok: false, retryable: false });
    expect(await waCalls(s)).toMatchObject({ send: 0 });
    expect(await waCalls(other)).toMatchObject({ send: 0 });
  });

  it("a platform that never answers is a retryable timeout; an answer lost after sending is retryable", { timeout: 30_000 }, async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    await waFail(s, "stall", 1);
    const stalled = await whatsapp.send(intent(user, "x"), accountOf(s), ctx());
    expect(stalled).toMatchObject({ ok: false, retryable: true, error: "send timed out" });
    await waFail(s, "drop", 1);
    expect(await whatsapp.send(intent(user, "lost"), accountOf(s), ctx())).toMatchObject({ ok: false, retryable: true });
    expect((await waSent(s, user)).map((m) => m.text)).toEqual(["lost"]);
  });
});

describe("whatsapp verify", () => {
  it("an empty app secret (an operator's WHATSAPP_* set to nothing) verifies nothing, and is no 500", async () => {
    const s = await setupWhatsapp();
    const body = JSON.stringify({ object: "whatsapp_business_account", entry: [] });
    const headers = new Headers({ "x-hub-signature-256": `sha256=${"0".repeat(64)}` });
    const account = { ...accountOf(s), signingSecretRef: "WHATSAPP_EMPTY_SECRET", secretHash: null };
    const withEmpty = { ...env, WHATSAPP_EMPTY_SECRET: "" } as typeof env;
    expect(await whatsapp.verify({ headers, body }, account as never, withEmpty)).toBe(false);
  });
});
