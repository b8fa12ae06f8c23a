// D1 tables of the model router: versioned route configs, one document per tenant. Versions are
// immutable rows; the head row names the active one. A rollback writes a new version that copies
// an earlier one, so the active version number only ever grows and an isolate can tell a stale
// cached config from the head with one integer comparison.
import { integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

export const routeConfigVersions = sqliteTable(
  "route_config_versions",
  {
    tenantId: text("tenant_id").notNull(),
    version: integer("version").notNull(),
    // The validated config document (schema/route-config.ts) as JSON.
    config: text("config").notNull(),
    createdAt: integer("created_at").notNull(),
    actor: text("actor").notNull(),
    // Set when this version was written by a rollback: the version it copies.
    rolledBackFrom: integer("rolled_back_from"),
    comment: text("comment"),
  },
  // Loading a version and listing a tenant's history, newest first.
  (t) => [primaryKey({ columns: [t.tenantId, t.version] })],
);

export const routeConfigHeads = sqliteTable("route_config_heads", {
  // One row per tenant with a config; the hot path's version check reads only this row.
  tenantId: text("tenant_id").primaryKey(),
  version: integer("version").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export type RouteConfigVersionRow = typeof routeConfigVersions.$inferSelect;
