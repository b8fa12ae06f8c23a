// D1 read replication (docs/deploy.md, "Config reads"): every request reads D1 through one
// session, so its reads may be served by a nearby read replica yet stay sequentially consistent
// (a write made in the request is seen by its later reads). A caller that wrote through the admin
// API and reads again right after sends back the bookmark it was given in x-edgeclaw-d1-bookmark,
// and its next session starts no older than that write. Admin writes start at the primary, so the
// checks they make before writing (a live tenant, a unique name) read the latest rows.
// Durable Objects and the cron keep the plain binding: they run next to the primary anyway.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { ApiError } from "./errors.ts";

export const BOOKMARK_HEADER = "x-edgeclaw-d1-bookmark";

// D1's bookmark shape (four hex groups); anything else would fail inside D1 as a 500.
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;
const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function d1Session(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // The global entry has no database (it only forwards, workers/regions/gate.ts).
    if (c.env.DB === undefined) return next();
    const bookmark = c.req.header(BOOKMARK_HEADER);
    if (bookmark !== undefined && !BOOKMARK.test(bookmark)) {
      throw new ApiError(400, "invalid_bookmark", `${BOOKMARK_HEADER} must be a bookmark this gateway returned.`);
    }
    const admin = c.req.path.startsWith("/admin/");
    const session = c.env.DB.withSession(bookmark ?? (admin && WRITES.has(c.req.method) ? "first-primary" : "first-unconstrained"));
    // A per-request copy of the bindings with DB replaced: everything below keeps calling
    // database(c.env.DB) and reads through the session without knowing it.
    c.env = { ...c.env, DB: session as unknown as D1Database };
    await next();
    const latest = session.getBookmark();
    if (admin && latest !== null) c.res.headers.set(BOOKMARK_HEADER, latest);
  };
}
