// Hono composition: request id first (so every answer, errors included, carries one), the region
// gate and the D1 session, then the health probe, the OpenAI-compatible API and the admin API;
// one error renderer for all.
import { Hono } from "hono";
import { admin } from "./admin/index.ts";
import { v1 } from "./api/index.ts";
import { hooks, webchatRoutes, webhooks } from "./channels/routes.ts";
import type { AppEnv } from "./env.ts";
import { handleError, handleNotFound } from "./http/errors.ts";
import { requestId } from "./http/request-id.ts";
import { d1Session } from "./http/d1-session.ts";
import { regionGate } from "./regions/gate.ts";
import { tracing } from "./observability/middleware.ts";
import { metrics } from "./metrics/index.ts";
import { ADMIN_DOCUMENT_PATH, PUBLIC_DOCUMENT_PATH, serveAdminDocument, servePublicDocument } from "./openapi/index.ts";
import { consoleRoutes } from "./console/index.ts";

export const app = new Hono<AppEnv>();

app.use(requestId());
// W3C traceparent in and out, the gateway's spans, one JSON log line per request (observability/).
app.use(tracing());
// The OpenAPI documents describe routes, never data: public, and served before the region gate
// (a global entry serves them too) and the admin auth (docs/openapi.md).
app.get(PUBLIC_DOCUMENT_PATH, servePublicDocument);
app.get(ADMIN_DOCUMENT_PATH, serveAdminDocument);
// A request of another region leaves here for its home Worker before anything reads storage;
// what stays reads D1 through one session (replicas, with the caller's bookmark).
app.use(regionGate());
app.use(d1Session());
app.get("/health", (c) => c.json({ status: "ok" }));
app.route("/v1", v1);
app.route("/admin", admin);
app.route("/webhooks", webhooks);
app.route("/hooks", hooks);
app.route("/webchat", webchatRoutes);
// The operator's Prometheus scrape, built from the D1 usage rollups (bearer METRICS_TOKEN).
app.route("/metrics", metrics);
app.route("/console", consoleRoutes);
app.notFound(handleNotFound);
app.onError(handleError);
