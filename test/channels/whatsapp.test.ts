// WhatsApp's webhook end to end inside workerd: the GET subscription handshake (verify token),
// X-Hub-Signature-256 made with node:crypto, forged and malformed deliveries refused before any
// session, DMs answered quoting the message, interactive replies, media placeholders, what is
// ignored (reactions, statuses, another number of the same app), batches, and the admin API's
// WhatsApp accounts.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, ownerToken, token } from "../gateway/helpers.ts";
import { exportSession, waitFor } from "./helpers.ts";
import {
  deliverWa,
  dmBody,
  handshake,
  hubSignature,
  messagesValue,
  outboxSettled,
  setupWhatsapp,
  statusOf,
  textMessage,
  typedMessage,
  waSent,
  waSessionKey,
  waUser,
  wamid,
  webhookBody,
  type WaSetup,
} from "./whatsapp-helpers.ts";

async function sessions(s: WaSetup): Promise<string[]> {
  return (await admin(s.tenant.owner, "GET", `/sessions?tenant_id=${s.tenant.tenantId}`)).body.data.map((x: any) => x.key);
}

describe("whatsapp webhook: handshake and signatures", () => {
  it("the subscription handshake echoes the challenge for the right verify token only", async () => {
    const s = await setupWhatsapp();
    expect(s.verifyToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    const ok = await handshake(s, { "hub.mode": "subscribe", "hub.verify_token": s.verifyToken, "hub.challenge": "1158201444" });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(await ok.text()).toBe("1158201444");
    const refused = [
      { "hub.mode": "subscribe", "hub.verify_token": `${s.verifyToken}x`, "hub.challenge": "1" },
      { "hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1" },
      { "hub.mode": "unsubscribe", "hub.verify_token": s.verifyToken, "hub.challenge": "1" },
    ];
    for (const q of refused) {
      const res = await handshake(s, q);
      expect(res.status, JSON.stringify(q)).toBe(403);
      expect(((await res.json()) as any).error.code).toBe("invalid_verify_token");
    }
    // Another account's token does not open this one.
    const other = await setupWhatsapp();
    expect((await handshake(s, { "hub.mode": "subscribe", "hub.verify_token": other.verifyToken, "hub.challenge": "1" })).status).toBe(403);
    const bad = [{ "hub.mode": "subscribe", "hub.verify_token": s.verifyToken }, {}, { "hub.mode": "subscribe", "hub.verify_token": s.verifyToken, "hub.challenge": "x".repeat(129) }, { "hub.mode": "subscribe", "hub.verify_token": s.verifyToken, "hub.challenge": "<script>" }];
    for (const q of bad) {
      const res = await handshake(s, q as Record<string, string>);
      expect(res.status, JSON.stringify(q)).toBe(400);
      expect(((await res.json()) as any).error.code).toBe("invalid_request");
    }
    // Odd queries: a JSON error, never a 500. A repeated parameter counts once (the first); a
    // huge token is only a wrong one; a challenge that is no text (bytes that are not UTF-8) or
    // huge is refused.
    const path = `/webhooks/whatsapp/${s.accountId}`;
    const raw = (q: string) => SELF.fetch(`http://gateway.test${path}?${q}`);
    const tok = encodeURIComponent(s.verifyToken);
    const repeated = await raw(`hub.mode=subscribe&hub.mode=unsubscribe&hub.verify_token=${tok}&hub.verify_token=x&hub.challenge=41&hub.challenge=42`);
    expect([repeated.status, await repeated.text()]).toEqual([200, "41"]);
    const odd: [string, number][] = [
      [`hub.mode=subscribe&hub.verify_token=${"t".repeat(50_000)}&hub.challenge=1`, 403],
      [`hub.mode=subscribe&hub.verify_token=${tok}&hub.challenge=%FF%FE`, 400],
      [`hub.mode=subscribe&hub.verify_token=${tok}&hub.challenge=${"9".repeat(20_000)}`, 400],
      [`hub.mode=%00&hub.verify_token=${tok}&hub.challenge=1`, 403],
    ];
    for (const [q, status] of odd) {
      const res = await raw(q);
      expect([q.slice(0, 80), res.status]).toEqual([q.slice(0, 80), status]);
      expect(((await res.json()) as any).error.code).toMatch(/^invalid_/);
    }
    // A revoked tenant's number: the right token still gets no challenge (Meta keeps the webhook unverified).
    const gone = await setupWhatsapp();
    expect((await admin(await ownerToken(), "POST", `/tenants/${gone.tenant.tenantId}/revoke`)).status).toBe(200);
    const revoked = await handshake(gone, { "hub.mode": "subscribe", "hub.verify_token": gone.verifyToken, "hub.challenge": "5" });
    expect(revoked.status).toBe(403);
    expect(((await revoked.json()) as any).error.code).toBe("tenant_revoked");
    // Unknown accounts and platforms without a handshake: 404.
    expect((await SELF.fetch("http://gateway.test/webhooks/whatsapp/chn-nope?hub.mode=subscribe&hub.verify_token=x&hub.challenge=1")).status).toBe(404);
    expect((await SELF.fetch(`http://gateway.test/webhooks/line/${s.accountId}?hub.mode=subscribe`)).status).toBe(404);
  });

  it("forged, wrong-secret and unsigned deliveries: 100% refused with 401, none reaches a session or the Cloud API", async () => {
    const s = await setupWhatsapp();
    const other = await setupWhatsapp();
    let refused = 0;
    for (let i = 0; i < 20; i++) {
      const body = JSON.stringify(dmBody(s, waUser(), `attack ${i}`));
      const sig = hubSignature(s.appSecret, body);
      const answers = [
        await deliverWa(s, body, { secret: other.appSecret }),
        await deliverWa(s, body.replace(`attack ${i}`, `attack ${i}!`), { signature: sig }),
        await deliverWa(s, body, { signature: hubSignature(s.appSecret, "") }),
        await deliverWa(s, body, { signature: sig.slice("sha256=".length) }),
        await deliverWa(s, body, { signature: `sha1=${sig.slice(7, 47)}` }),
        await deliverWa(s, body, { signature: `sha256=${"0".repeat(64)}` }),
        await deliverWa(s, body, { signature: null }),
      ];
      for (const res of answers) {
        expect(res.status).toBe(401);
        expect(((await res.json()) as any).error.code).toBe("invalid_signature");
        refused++;
      }
    }
    expect(refused).toBe(140);
    expect(await sessions(s)).toEqual([]);
    expect(await waSent(s)).toEqual([]);
  });

  it("signed but malformed deliveries answer 400 with a JSON error, never a 500, and record nothing", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const value = (messages: object[]) => messagesValue(s, messages);
    const bodies = [
      "not json",
      JSON.stringify({ object: "page", entry: [] }),
      JSON.stringify({ object: "whatsapp_business_account", entry: "no" }),
      JSON.stringify(webhookBody([{ messaging_product: "whatsapp", messages: [textMessage(user, "no metadata")] }])),
      JSON.stringify(webhookBody([value([{ ...textMessage(user, "hi"), from: "+1 555" }])])),
      JSON.stringify(webhookBody([value([{ ...textMessage(user, "hi"), id: "wamid with spaces" }])])),
      JSON.stringify(webhookBody([value([textMessage(user, "x".repeat(65_537))])])),
      JSON.stringify(webhookBody([value(Array.from({ length: 101 }, () => textMessage(user, "many")))])),
      JSON.stringify({ object: "whatsapp_business_account", entry: Array.from({ length: 51 }, () => ({ id: "1", changes: [] })) }),
      // 101 messages spread over two changes: the delivery's total is bounded too.
      JSON.stringify(webhookBody([value(Array.from({ length: 60 }, () => textMessage(user, "a"))), value(Array.from({ length: 41 }, () => textMessage(user, "b")))])),
      JSON.stringify(webhookBody([value([typedMessage(user, "image", { id: "../../etc" })])])),
      `${"[".repeat(100)}${"]".repeat(100)}`,
    ];
    for (const body of bodies) {
      const res = await deliverWa(s, body);
      expect(res.status, body.slice(0, 100)).toBe(400);
      expect(((await res.json()) as any).error.code, body.slice(0, 100)).toMatch(/^invalid_/);
    }
    // Over the route's 1 MiB: refused before any parsing.
    const huge = JSON.stringify(dmBody(s, user, "y".repeat(60_000))).replace('"messages"', `"pad":"${"z".repeat(1_100_000)}","messages"`);
    expect((await deliverWa(s, huge)).status).toBe(413);
    expect(await sessions(s)).toEqual([]);
  });
});

describe("whatsapp webhook: messages", () => {
  it("a DM is answered quoting the message, with the sender's profile name kept", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const id = wamid();
    const body = webhookBody([messagesValue(s, [textMessage(user, "hello there", id)], [{ wa_id: user, name: "Ana" }])]);
    expect(await statusOf(await deliverWa(s, body))).toBe("accepted");
    const sent = await waitFor(() => waSent(s, user), (m) => m.length >= 1);
    expect(sent).toMatchObject([{ to: user, type: "text", text: "echo: hello there", context: id, phoneNumberId: s.phoneNumberId }]);
    const session = await exportSession(s.tenant.owner, waSessionKey(s, user));
    expect(session.outbox).toMatchObject([{ state: "sent", receipt: sent[0]?.id }]);
    expect(session.profile).toMatchObject({ name: "Ana", id: user });
  });

  it("interactive replies and template buttons are their titles; media are placeholders naming the media id", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const messages = [
      typedMessage(user, "interactive", { type: "button_reply", button_reply: { id: "yes-1", title: "Yes please" } }),
      typedMessage(user, "interactive", { type: "list_reply", list_reply: { id: "row-2", title: "Tuesday", description: "afternoon" } }),
      typedMessage(user, "button", { text: "Stop promotions", payload: "STOP" }),
      typedMessage(user, "image", { id: "1479537139650973", mime_type: "image/jpeg", caption: "my cat" }),
      typedMessage(user, "document", { id: "2222", filename: "report.pdf", mime_type: "application/pdf" }),
      typedMessage(user, "location", { latitude: 38.7223, longitude: -9.1393, name: "Lisbon" }),
    ];
    for (const m of messages) expect(await statusOf(await deliverWa(s, webhookBody([messagesValue(s, [m])])))).toBe("accepted");
    const sent = await waitFor(() => waSent(s, user), (m) => m.length >= 6, 30_000);
    expect(sent.map((m) => m.text)).toEqual([
      "echo: Yes please",
      "echo: Tuesday",
      "echo: Stop promotions",
      "echo: [image 1479537139650973] my cat",
      "echo: [document report.pdf 2222]",
      "echo: [location: Lisbon 38.7223,-9.1393]",
    ]);
    const inbox = (await exportSession(s.tenant.owner, waSessionKey(s, user))).inbox;
    expect(inbox).toHaveLength(6);
  }, 40_000);

  it("reactions, unsupported types, statuses other than failed, and another number of the same app are acknowledged and ignored", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    const quiet = [
      webhookBody([messagesValue(s, [typedMessage(user, "reaction", { message_id: wamid(), emoji: "👍" })])]),
      webhookBody([messagesValue(s, [typedMessage(user, "unsupported", { errors: [] })])]),
      webhookBody([messagesValue("999999999999999", [textMessage(user, "for another number")])]),
      webhookBody([{ messaging_product: "whatsapp", metadata: { phone_number_id: s.phoneNumberId }, statuses: [{ id: wamid(), status: "delivered", recipient_id: user, timestamp: "1" }] }]),
      { object: "whatsapp_business_account", entry: [{ id: "1", changes: [{ field: "account_update", value: { event: "VERIFIED_ACCOUNT" } }] }] },
    ];
    for (const body of quiet) expect(await statusOf(await deliverWa(s, body))).toBe("ignored");
    await new Promise((r) => setTimeout(r, 300));
    expect(await sessions(s)).toEqual([]);
    expect(await waSent(s)).toEqual([]);
  });

  it("two accounts (two tenants) of one Meta app share its secret: a signed delivery replayed at the other's URL is ignored, messages and failed statuses", async () => {
    const a = await setupWhatsapp();
    const b = await setupWhatsapp();
    // B's number belongs to the same Meta app: B's vault holds A's app secret.
    expect([200, 201]).toContain((await admin(b.tenant.owner, "PUT", "/secrets/wa-secret", { tenant_id: b.tenant.tenantId, value: a.appSecret })).status);
    const user = waUser();
    const message = dmBody(a, user, "for A only");
    expect(await statusOf(await deliverWa(a, message))).toBe("accepted");
    const [sent] = await waitFor(() => waSent(a, user), (m) => m.length >= 1);
    // The receipt is recorded once the send's answer is back (after the fake recorded the message).
    await outboxSettled(a, user, 1);
    const failed = webhookBody([{ messaging_product: "whatsapp", metadata: { phone_number_id: a.phoneNumberId }, statuses: [{ id: sent?.id, status: "failed", recipient_id: user, errors: [{ code: 131026, title: "Message undeliverable" }] }] }]);
    // Signed with the shared secret, so B's URL verifies them (200), and reads nothing: they name A's number.
    expect(await statusOf(await deliverWa(b, message, { secret: a.appSecret }))).toBe("ignored");
    expect(await statusOf(await deliverWa(b, failed, { secret: a.appSecret }))).toBe("ignored");
    expect(await sessions(b)).toEqual([]);
    expect((await exportSession(a.tenant.owner, waSessionKey(a, user))).outbox).toMatchObject([{ state: "sent", receipt: sent?.id }]);
    // The same status at A's URL is A's.
    expect(((await (await deliverWa(a, failed)).json()) as any).receipts).toEqual(["dead_lettered"]);
  });

  it("a batch: every message accepted in order and answered; the same batch again is all duplicates", async () => {
    const s = await setupWhatsapp();
    const a = waUser();
    const b = waUser();
    const body = webhookBody([messagesValue(s, [textMessage(a, "a1"), textMessage(b, "b1")]), messagesValue(s, [textMessage(a, "a2")])]);
    const ack = (await (await deliverWa(s, body)).json()) as any;
    expect(ack.status).toBe("accepted");
    expect(ack.events.map((e: any) => e.status)).toEqual(["accepted", "accepted", "accepted"]);
    expect((await waitFor(() => waSent(s, a), (m) => m.length >= 2)).map((m) => m.text)).toEqual(["echo: a1", "echo: a2"]);
    expect((await waitFor(() => waSent(s, b), (m) => m.length >= 1)).map((m) => m.text)).toEqual(["echo: b1"]);
    const again = (await (await deliverWa(s, body)).json()) as any;
    expect(again.events.map((e: any) => e.status)).toEqual(["duplicate", "duplicate", "duplicate"]);
  });

  it("reset is a command, as on the other platforms", async () => {
    const s = await setupWhatsapp();
    const user = waUser();
    await deliverWa(s, dmBody(s, user, "remember 42"));
    await waitFor(() => waSent(s, user), (m) => m.length >= 1);
    await deliverWa(s, dmBody(s, user, "reset"));
    const sent = await waitFor(() => waSent(s, user), (m) => m.length >= 2);
    expect(sent[1]?.text).toMatch(/starts over/);
    expect((await exportSession(s.tenant.owner, waSessionKey(s, user))).history).toEqual([]);
  });
});

describe("whatsapp accounts (admin API)", () => {
  it("create prints /webhooks/whatsapp/<id> and shows the verify token once; refuses missing refs and settings and wrong prefixes", async () => {
    const s = await setupWhatsapp({ template: { name: "follow_up", language: "en_US", text_parameter: true } });
    const list = await admin(s.tenant.owner, "GET", `/channel-accounts?tenant_id=${s.tenant.tenantId}`);
    const row = list.body.data.find((a: any) => a.id === s.accountId);
    expect(row).toMatchObject({
      channel: "whatsapp",
      webhook_path: `/webhooks/whatsapp/${s.accountId}`,
      token_ref: "vault:wa-token",
      signing_secret_ref: "vault:wa-secret",
      whatsapp: { phone_number_id: s.phoneNumberId, template: { name: "follow_up", language: "en_US", text_parameter: true } },
    });
    // Shown once: the list never has it (nor the credentials).
    for (const secret of [s.verifyToken, s.appSecret, s.accessToken]) expect(JSON.stringify(list.body)).not.toContain(secret);
    const base = { tenant_id: s.tenant.tenantId, channel: "whatsapp", token_ref: "vault:wa-token", signing_secret_ref: "vault:wa-secret", whatsapp: { phone_number_id: "123456" } };
    const refused: [Record<string, unknown>, string][] = [
      [{ ...base, name: "n1", token_ref: undefined }, "token_ref"],
      [{ ...base, name: "n2", signing_secret_ref: undefined }, "signing_secret_ref"],
      [{ ...base, name: "n3", whatsapp: undefined }, "whatsapp"],
      [{ ...base, name: "n4", whatsapp: { phone_number_id: "+15550001" } }, "whatsapp"],
      [{ ...base, name: "n5", token_ref: "LINE_TOKEN" }, "token_ref"],
      [{ ...base, name: "n6", signing_secret_ref: "SLACK_SIGN" }, "signing_secret_ref"],
      [{ ...base, name: "n7", whatsapp: { phone_number_id: "1", template: { name: "Bad Name", language: "en_US" } } }, "whatsapp"],
      [{ ...base, name: "n8", webhook_secret: "short" }, "webhook_secret"],
    ];
    for (const [body, param] of refused) {
      const res = await admin(s.tenant.owner, "POST", "/channel-accounts", body);
      expect(res.status, param).toBe(400);
      expect(res.body.error.message, param).toContain(`'${param}`);
    }
    // An owner may name WHATSAPP_* Worker secrets, and choose the verify token.
    const chosen = "my-verify-token-0123456789";
    const owned = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, name: "owned", token_ref: "WHATSAPP_TOKEN", signing_secret_ref: "WHATSAPP_APP_SECRET", webhook_secret: chosen });
    expect(owned.status).toBe(201);
    expect(owned.body).toMatchObject({ webhook_path: `/webhooks/whatsapp/${owned.body.id}`, webhook_secret: chosen });
    const ok = await SELF.fetch(`http://gateway.test/webhooks/whatsapp/${owned.body.id}?hub.mode=subscribe&hub.verify_token=${chosen}&hub.challenge=77`);
    expect(await ok.text()).toBe("77");
    // A WHATSAPP_ prefix on another channel is refused.
    const lineWithWa = await admin(s.tenant.owner, "POST", "/channel-accounts", { tenant_id: s.tenant.tenantId, channel: "line", name: "l", token_ref: "WHATSAPP_TOKEN", signing_secret_ref: "LINE_SECRET" });
    expect(lineWithWa.status).toBe(400);
  });

  it("a tenant admin cannot name an owner's WHATSAPP_ secret nor create in another tenant; api_base_url to a private address is refused", async () => {
    const s = await setupWhatsapp();
    const base = { tenant_id: s.tenant.tenantId, channel: "whatsapp", token_ref: "vault:wa-token", signing_secret_ref: "vault:wa-secret", whatsapp: { phone_number_id: "123456" } };
    const tenantAdmin = await token({ sub: `admin-of-${s.tenant.tenantId}`, role: "admin", tenant: s.tenant.tenantId });
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "deploy", token_ref: "WHATSAPP_TOKEN" })).status).toBe(403);
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "deploy2", signing_secret_ref: "WHATSAPP_APP_SECRET" })).status).toBe(403);
    const stranger = await setupWhatsapp();
    const strangerAdmin = await token({ sub: `admin-of-${stranger.tenant.tenantId}`, role: "admin", tenant: stranger.tenant.tenantId });
    expect((await admin(strangerAdmin, "POST", "/channel-accounts", { ...base, name: "theirs" })).status).toBe(403);
    expect((await admin(tenantAdmin, "POST", "/channel-accounts", { ...base, name: "ownvault" })).status).toBe(201);
    for (const [i, url] of ["http://169.254.169.254", "https://10.0.0.5", "http://localhost:8080"].entries()) {
      const res = await admin(s.tenant.owner, "POST", "/channel-accounts", { ...base, name: `priv-${i}`, api_base_url: url });
      expect([url, res.status, res.body.error?.code]).toEqual([url, 400, "url_not_allowed"]);
    }
  });
});
