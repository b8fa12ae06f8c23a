CREATE TABLE `audit_subject_erasures` (
	`tenant_id` text NOT NULL,
	`digest` text NOT NULL,
	`erased_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `digest`)
);
--> statement-breakpoint
CREATE INDEX `audit_subject_erasures_at_idx` ON `audit_subject_erasures` (`erased_at`);--> statement-breakpoint
ALTER TABLE `audit_log` ADD `event_id` text;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_log_event_id_uq` ON `audit_log` (`event_id`);--> statement-breakpoint
CREATE INDEX `audit_log_tenant_action_idx` ON `audit_log` (`tenant_id`,`action`);--> statement-breakpoint
ALTER TABLE `sessions` ADD `inbox_depth` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `outbox_depth` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sessions` ADD `depth_at` integer;