// The admin API under /admin: JWT auth for every route, then one router per resource.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { adminAuth } from "../http/admin-auth.ts";
import { agentRoutes, bindingRoutes } from "./agents.ts";
import { apiKeyRoutes } from "./api-keys.ts";
import { listAudit } from "./audit.ts";
import { channelAccountRoutes } from "./channel-accounts.ts";
import { discordGatewayRoutes } from "./discord-gateway.ts";
import { jobRoutes } from "./jobs.ts";
import { modelRoutes } from "./models.ts";
import { providerRoutes } from "./providers.ts";
import { retentionRoutes } from "./retention.ts";
import { routerConfigRoutes } from "./router-config.ts";
import { secretRoutes } from "./secrets.ts";
import { deadLetterRoutes, pairingRoutes, sessionRoutes } from "./sessions.ts";
import { tenantRoutes } from "./tenants.ts";
import { tokenRoutes } from "./tokens.ts";

export const admin = new Hono<AppEnv>();

admin.use(adminAuth());
admin.route("/tenants", tenantRoutes);
admin.route("/api-keys", apiKeyRoutes);
admin.route("/providers", providerRoutes);
admin.route("/models", modelRoutes);
admin.route("/router-config", routerConfigRoutes);
admin.route("/agents", agentRoutes);
admin.route("/bindings", bindingRoutes);
admin.route("/channel-accounts", channelAccountRoutes);
admin.route("/channel-accounts", discordGatewayRoutes);
admin.route("/sessions", sessionRoutes);
admin.route("/dead-letters", deadLetterRoutes);
admin.route("/pairings", pairingRoutes);
admin.route("/jobs", jobRoutes);
admin.route("/secrets", secretRoutes);
admin.get("/audit", listAudit);
admin.route("/audit", retentionRoutes);
admin.route("/tokens", tokenRoutes);
