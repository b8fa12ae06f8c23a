// D1 tables. Times are Unix epoch milliseconds; booleans are 0/1 integers; JSON is text.
// Every index here backs a lookup the Worker makes (named next to it).
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: integer("created_at").notNull(),
  revokedAt: integer("revoked_at"),
  // Home region (docs/deploy.md), set at creation to the region whose Worker created the tenant
  // and never changed; null in a single-region deployment. The row exists only in that region's D1.
  region: text("region"),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    // SHA-256 of the whole key, lowercase hex. The key itself is shown once and never stored.
    keyHash: text("key_hash").notNull(),
    // The first characters of the key, so people can tell their keys apart in listings.
    prefix: text("prefix").notNull(),
    // JSON array of scope names (see schema/admin.ts).
    scopes: text("scopes").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    // Bearer auth on a cache miss.
    uniqueIndex("api_keys_key_hash_uq").on(t.keyHash),
    // Admin listing per tenant.
    index("api_keys_tenant_idx").on(t.tenantId, t.createdAt),
  ],
);

export const providers = sqliteTable(
  "providers",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    // Adapter kind, a key of workers/router/providers/index.ts.
    kind: text("kind").notNull(),
    baseUrl: text("base_url").notNull(),
    // Where the upstream credential is, never the value: a PROVIDER_* Worker secret or vault:<name>
    // of this tenant (workers/auth/secrets.ts resolveSecret).
    credentialRef: text("credential_ref"),
    timeoutMs: integer("timeout_ms"),
    // JSON [{id, base_url, metrics_url?}] (schema/provider-replicas.ts), or null: none.
    replicas: text("replicas"),
    createdAt: integer("created_at").notNull(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [
    // Admin listing per tenant, and one name per tenant.
    uniqueIndex("providers_tenant_name_uq").on(t.tenantId, t.name),
  ],
);

export const models = sqliteTable(
  "models",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    // The name clients send as `model`.
    publicName: text("public_name").notNull(),
    providerId: text("provider_id")
      .notNull()
      .references(() => providers.id),
    upstreamModel: text("upstream_model").notNull(),
    // What the model does: "chat" (chat and legacy text completions) or "embedding" (POST
    // /v1/embeddings). Each endpoint refuses the other kind with a 400 (workers/router/operations/).
    kind: text("kind").notNull().default("chat"),
    contextWindow: integer("context_window"),
    // USD per 1M tokens. Prices are list prices for display and later metering, not ledger
    // amounts, so a REAL is precise enough.
    inputPricePerMtok: real("input_price_per_mtok").notNull().default(0),
    outputPricePerMtok: real("output_price_per_mtok").notNull().default(0),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    // A tenant's routing table (load on cache miss) and one public name per tenant.
    uniqueIndex("models_tenant_public_name_uq").on(t.tenantId, t.publicName),
    // Which models a provider serves (named in the audit row when a provider is revoked).
    index("models_provider_idx").on(t.providerId),
  ],
);

// Append-only: migrations add triggers that abort any UPDATE, and any DELETE except of a row
// older than its tenant's retention (tenant_settings). Never message bodies, never a raw
// subject id (peer, chat or group id): those go through audit_subjects (workers/admin/subjects.ts).
export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    // Null for deployment-wide actions by an owner (e.g. creating a tenant has the new id here).
    tenantId: text("tenant_id"),
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    target: text("target").notNull(),
    metadata: text("metadata").notNull().default(sql`'{}'`),
    // Data-plane events (workers/audit/) carry the random id their producer gave them: the queue
    // delivers at least once and the consumer inserts or ignores on it. Null for admin rows,
    // which is also how the listing tells the two kinds apart.
    eventId: text("event_id"),
  },
  (t) => [
    uniqueIndex("audit_log_event_id_uq").on(t.eventId),
    // The listing's action filter (exact or prefix) within a tenant.
    index("audit_log_tenant_action_idx").on(t.tenantId, t.action),
    // Admin audit listing per tenant, newest first: SQLite keeps the rowid (id) in every index
    // entry, so `WHERE tenant_id = ? ORDER BY id DESC` is served by this index alone. The owner's
    // listing across tenants walks the primary key.
    index("audit_log_tenant_idx").on(t.tenantId),
    // The retention purge: a tenant's rows older than a cutoff.
    index("audit_log_tenant_at_idx").on(t.tenantId, t.at),
  ],
);

// Pseudonyms for the people and groups that audit rows are about. An audit row names a subject
// only by its random pseudonym; this row links it to the subject (by a digest of tenant and
// subject id). Erasing a session deletes the row, and with it the only link: the audit rows stay
// but no longer say whom they were about. A later event about the same subject gets a new one.
export const auditSubjects = sqliteTable(
  "audit_subjects",
  {
    tenantId: text("tenant_id").notNull(),
    // SHA-256 hex of tenant id + subject ("dm:<peer id>" or "group:<group id>").
    digest: text("digest").notNull(),
    pseudonym: text("pseudonym").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.digest] })],
);

// Subjects erased recently, by the same digest audit_subjects used. A data-plane audit event can
// still wait in the queue when its subject is erased; the consumer writes such an event (made
// before the erase) unlinked instead of giving the subject a fresh pseudonym. Rows are dropped
// once no queued event can be that old (workers/audit/consumer.ts).
export const auditSubjectErasures = sqliteTable(
  "audit_subject_erasures",
  {
    tenantId: text("tenant_id").notNull(),
    digest: text("digest").notNull(),
    erasedAt: integer("erased_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.digest] }), index("audit_subject_erasures_at_idx").on(t.erasedAt)],
);

// Per-tenant settings an owner or the tenant's admin may change (PUT /admin/audit/retention).
export const tenantSettings = sqliteTable("tenant_settings", {
  tenantId: text("tenant_id")
    .primaryKey()
    .references(() => tenants.id),
  // Audit rows older than this many days may be purged (null: kept forever). The audit_log
  // DELETE trigger reads it, so nothing else can delete a younger row.
  auditRetentionDays: integer("audit_retention_days"),
  updatedAt: integer("updated_at").notNull(),
});

// Revoked admin token ids, kept until the token would have expired anyway (the daily cron drops
// them after that). Checked on every admin request (workers/auth/revoked-tokens.ts).
export const revokedAdminTokens = sqliteTable(
  "revoked_admin_tokens",
  {
    jti: text("jti").primaryKey(),
    // Epoch ms: the token's own exp.
    expiresAt: integer("expires_at").notNull(),
    revokedAt: integer("revoked_at").notNull(),
  },
  (t) => [
    // The purge of rows past their token's expiry.
    index("revoked_admin_tokens_expires_idx").on(t.expiresAt),
  ],
);

export type TenantRow = typeof tenants.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ProviderRow = typeof providers.$inferSelect;
export type ModelRow = typeof models.$inferSelect;
export * from "./usage.ts";
export * from "./metrics.ts";
