// /admin/channel-accounts: a Telegram bot (its token as a vault:<name> or TELEGRAM_* reference,
// its webhook secret, its API base URL), a Slack app (its bot token and signing secret as
// vault:<name> or SLACK_* references, its bot user id), a Discord application (its bot token as
// vault:<name> or DISCORD_*, its public key, its bot user id), a LINE channel, a WhatsApp Cloud
// API number (access token and app secret, phone number id, template), a Feishu/Lark app (App
// Secret and Encrypt Key, App ID, host), a WebChat site, or an inbound-hook client. Secrets are
// shown once, in the create answer (the webhook secret to give setWebhook, the hook token); D1
// keeps only their SHA-256. Only an owner may name a TELEGRAM_*, SLACK_*, DISCORD_*, LINE_*,
// WHATSAPP_* or FEISHU_* secret (those are deployment-wide). webhook_path is the URL to paste at
// the platform (Telegram's setWebhook, Slack's Event Subscriptions and slash command Request
// URL, Discord's Interactions Endpoint URL, LINE's and WhatsApp's Webhook URL, Feishu's Request
// URL).
import { desc, eq } from "drizzle-orm";
import { Hono } from "hono";
import { channelAccounts, type ChannelAccountRow } from "../../schema/agents.ts";
import { platformSettingsOf } from "../../schema/channel-settings.ts";
import { createChannelAccountBody, isWebhookChannel } from "../../schema/channels.ts";
import { forgetAccount } from "../agents/config.ts";
import { HOOK_TOKEN_PREFIX } from "../channels/hook.ts";
import { sha256Hex } from "../auth/encoding.ts";
import { channelLimitsOf } from "../channels/limits.ts";
import { randomToken } from "../channels/secrets.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { assertOutboundUrl } from "../security/outbound-url.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditInsert } from "./audit.ts";
import { assertMayReference } from "./secret-refs.ts";
import { iso, newId } from "./ids.ts";
import { adminBody, conflictOnUnique, scopedListQuery } from "./request.ts";
import { requireLiveTenant } from "./tenants.ts";
import { objectNamed } from "../regions/objects.ts";

export const channelAccountRoutes = new Hono<AppEnv>();

function view(row: ChannelAccountRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    channel: row.channel,
    name: row.name,
    api_base_url: row.apiBaseUrl,
    token_ref: row.tokenRef,
    signing_secret_ref: row.signingSecretRef,
    bot_username: row.botUsername,
    send_interval_ms: row.sendIntervalMs,
    public_key: row.publicKey,
    stream_replies: row.streamReplies === 1,
    in_doubt: row.inDoubt,
    limits: channelLimitsOf(row.limits),
    ...platformSettingsOf(row.channel, row.settings),
    webhook_path: isWebhookChannel(row.channel) ? `/webhooks/${row.channel}/${row.id}` : null,
    created_at: iso(row.createdAt),
    revoked_at: iso(row.revokedAt),
  };
}

channelAccountRoutes.post("/", async (c) => {
  const claims = c.get("admin");
  const body = await adminBody(c, createChannelAccountBody);
  const tenantId = tenantForWrite(claims, body.tenant_id);
  assertMayReference(claims, body.token_ref, "token_ref");
  assertMayReference(claims, body.signing_secret_ref, "signing_secret_ref");
  // The bot token is sent to this base URL: it passes the outbound-URL policy like any URL a
  // tenant admin supplies (telegram.ts checks it again before each call).
  if (body.api_base_url !== undefined) assertOutboundUrl(c.env, body.api_base_url, "api_base_url");
  const db = database(c.env.DB);
  await requireLiveTenant(db, tenantId);
  const id = newId("chn", c.env);
  let secret: string | null = null;
  // Telegram's webhook secret and WhatsApp's Verify Token: shown once, only their hash kept.
  if (body.channel === "telegram" || body.channel === "whatsapp") secret = body.webhook_secret ?? randomToken(32);
  if (body.channel === "hook") secret = `${HOOK_TOKEN_PREFIX}${id}.${randomToken(32)}`;
  const row: ChannelAccountRow = {
    id,
    tenantId,
    channel: body.channel,
    name: body.name,
    apiBaseUrl: body.api_base_url ?? null,
    tokenRef: body.token_ref ?? null,
    signingSecretRef: body.signing_secret_ref ?? null,
    secretHash: secret === null ? null : await sha256Hex(secret),
    botUsername: body.bot_username ?? null,
    sendIntervalMs: body.send_interval_ms ?? null,
    publicKey: body.public_key ?? null,
    streamReplies: body.stream_replies === true ? 1 : 0,
    inDoubt: body.in_doubt ?? "resend",
    limits: body.limits === undefined ? null : JSON.stringify(body.limits),
    settings: body.whatsapp ? JSON.stringify(body.whatsapp) : body.feishu ? JSON.stringify(body.feishu) : null,
    createdAt: Date.now(),
    revokedAt: null,
  };
  await db
    .batch([
      db.insert(channelAccounts).values(row),
      auditInsert(db, claims, { tenantId, action: "channel_account.create", target: id, metadata: { channel: row.channel, name: row.name, api_base_url: row.apiBaseUrl, token_ref: row.tokenRef, signing_secret_ref: row.signingSecretRef } }, row.createdAt),
    ])
    .catch((err: unknown) => conflictOnUnique(err, `Tenant '${tenantId}' already has a channel account named '${row.name}'.`));
  const shown = body.channel === "telegram" || body.channel === "whatsapp" ? { webhook_secret: secret } : body.channel === "hook" ? { token: secret } : {};
  return c.json({ ...view(row), ...shown }, 201);
});

channelAccountRoutes.get("/", async (c) => {
  const { tenantId, limit } = scopedListQuery(c);
  const rows = await database(c.env.DB)
    .select()
    .from(channelAccounts)
    .where(tenantId === undefined ? undefined : eq(channelAccounts.tenantId, tenantId))
    .orderBy(desc(channelAccounts.createdAt))
    .limit(limit);
  return c.json({ data: rows.map(view) });
});

channelAccountRoutes.post("/:id/revoke", async (c) => {
  const claims = c.get("admin");
  const db = database(c.env.DB);
  const row = await db.select().from(channelAccounts).where(eq(channelAccounts.id, c.req.param("id"))).get();
  if (!row) throw new ApiError(404, "not_found", "No such channel account.");
  assertVisible(claims, row.tenantId, "channel account");
  tenantForWrite(claims, row.tenantId);
  if (row.revokedAt !== null) return c.json(view(row));
  const revokedAt = Date.now();
  await db.batch([
    db.update(channelAccounts).set({ revokedAt }).where(eq(channelAccounts.id, row.id)),
    auditInsert(db, claims, { tenantId: row.tenantId, action: "channel_account.revoke", target: row.id, metadata: { name: row.name } }, revokedAt),
  ]);
  forgetAccount(row.id);
  // A Discord bot's Gateway connection closes now, not at its next watchdog tick (which stops it
  // too, on seeing the revocation, within a minute: so a failed call here is logged, and the
  // revocation, already committed, still answers 200).
  if (row.channel === "discord") {
    try {
      await objectNamed(c.env, c.env.DISCORD_GATEWAYS, row.id).stop();
    } catch (err) {
      console.error(JSON.stringify({ level: "warn", msg: "gateway stop on revocation failed", account: row.id, error: String(err) }));
    }
  }
  return c.json(view({ ...row, revokedAt }));
});
