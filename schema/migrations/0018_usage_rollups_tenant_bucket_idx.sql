DROP INDEX `usage_rollups_granularity_tenant_idx`;--> statement-breakpoint
CREATE INDEX `usage_rollups_tenant_bucket_idx` ON `usage_rollups` (`granularity`,`tenant_id`,`bucket_start`);