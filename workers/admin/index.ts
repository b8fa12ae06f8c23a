// The admin API under /admin: JWT auth for every route, then one router per resource.
import { Hono } from "hono";
import type { AppEnv } from "../env.ts";
import { adminAuth } from "../http/admin-auth.ts";
import { apiKeyRoutes } from "./api-keys.ts";
import { listAudit } from "./audit.ts";
import { modelRoutes } from "./models.ts";
import { providerRoutes } from "./providers.ts";
import { routerConfigRoutes } from "./router-config.ts";
import { tenantRoutes } from "./tenants.ts";

export const admin = new Hono<AppEnv>();

admin.use(adminAuth());
admin.route("/tenants", tenantRoutes);
admin.route("/api-keys", apiKeyRoutes);
admin.route("/providers", providerRoutes);
admin.route("/models", modelRoutes);
admin.route("/router-config", routerConfigRoutes);
admin.get("/audit", listAudit);
