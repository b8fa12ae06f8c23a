// /admin/channel-accounts/:id/gateway: the Discord Gateway connection of a Discord bot account
// (durable-objects/discord-gateway.ts). Ordinary messages (DMs, mentions) reach a Discord bot
// only over that WebSocket, so an admin starts it once and it stays up (resumed, reconnected)
// until stopped, the account or tenant is revoked, or Discord refuses the bot for good.
//   POST /:id/gateway/start   connect (idempotent: a running connection is kept)
//   POST /:id/gateway/stop    close it and stay stopped
//   GET  /:id/gateway         its state: status, session held, last seq, last heartbeat ACK,
//                             resumes, reconnects, identifies, last close code and error
// Scoped like the account itself: another tenant's account answers 404; a non-Discord account 400.
import { eq } from "drizzle-orm";
import { Hono, type Context } from "hono";
import { channelAccounts, type ChannelAccountRow } from "../../schema/agents.ts";
import { database } from "../db.ts";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { assertVisible, tenantForWrite } from "./access.ts";
import { auditIntent } from "./audit.ts";
import { requireLiveTenant } from "./tenants.ts";
import { objectNamed } from "../regions/objects.ts";

export const discordGatewayRoutes = new Hono<AppEnv>();

async function discordAccount(c: Context<AppEnv>, write: boolean): Promise<ChannelAccountRow> {
  const claims = c.get("admin");
  const id = c.req.param("id") ?? "";
  const row = id.length <= 64 ? await database(c.env.DB).select().from(channelAccounts).where(eq(channelAccounts.id, id)).get() : undefined;
  if (!row) throw new ApiError(404, "not_found", "No such channel account.");
  assertVisible(claims, row.tenantId, "channel account");
  if (write) tenantForWrite(claims, row.tenantId);
  if (row.channel !== "discord") throw new ApiError(400, "not_discord", `Channel account '${row.id}' is a ${row.channel} account; only Discord accounts have a Gateway connection.`);
  return row;
}

function gateway(c: Context<AppEnv>, row: ChannelAccountRow) {
  return objectNamed(c.env, c.env.DISCORD_GATEWAYS, row.id);
}

discordGatewayRoutes.post("/:id/gateway/start", async (c) => {
  const row = await discordAccount(c, true);
  if (row.revokedAt !== null) throw new ApiError(409, "account_revoked", "This channel account is revoked.");
  const db = database(c.env.DB);
  await requireLiveTenant(db, row.tenantId);
  await auditIntent(db, c.get("admin"), { tenantId: row.tenantId, action: "channel_account.gateway_start", target: row.id, metadata: { name: row.name } });
  return c.json(await gateway(c, row).start(row.id));
});

discordGatewayRoutes.post("/:id/gateway/stop", async (c) => {
  const row = await discordAccount(c, true);
  await auditIntent(database(c.env.DB), c.get("admin"), { tenantId: row.tenantId, action: "channel_account.gateway_stop", target: row.id, metadata: { name: row.name } });
  return c.json(await gateway(c, row).stop());
});

discordGatewayRoutes.get("/:id/gateway", async (c) => {
  const row = await discordAccount(c, false);
  return c.json(await gateway(c, row).state());
});
