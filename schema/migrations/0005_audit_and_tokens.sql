-- Admin token revocation, audit subject pseudonyms (GDPR erase) and per-tenant audit retention.
CREATE TABLE `revoked_admin_tokens` (
	`jti` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL,
	`revoked_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `revoked_admin_tokens_expires_idx` ON `revoked_admin_tokens` (`expires_at`);
--> statement-breakpoint
CREATE TABLE `audit_subjects` (
	`tenant_id` text NOT NULL,
	`digest` text NOT NULL,
	`pseudonym` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `digest`)
);
--> statement-breakpoint
CREATE TABLE `tenant_settings` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`audit_retention_days` integer,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `audit_log_tenant_at_idx` ON `audit_log` (`tenant_id`,`at`);
--> statement-breakpoint
-- audit_log stays append-only except for one kind of DELETE: a row of a tenant with a retention
-- period, older than that period by the database's own clock. Everything else (any UPDATE, a
-- younger row, a row without a tenant, a tenant without retention) still aborts.
DROP TRIGGER `audit_log_no_delete`;
--> statement-breakpoint
CREATE TRIGGER `audit_log_delete_past_retention_only` BEFORE DELETE ON `audit_log`
WHEN OLD.`tenant_id` IS NULL OR NOT EXISTS (
  SELECT 1 FROM `tenant_settings` s
  WHERE s.`tenant_id` = OLD.`tenant_id`
    AND s.`audit_retention_days` IS NOT NULL
    AND OLD.`at` < CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - s.`audit_retention_days` * 86400000
)
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
