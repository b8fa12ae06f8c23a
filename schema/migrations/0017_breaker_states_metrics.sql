CREATE TABLE `breaker_states` (
	`key` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`route` text NOT NULL,
	`target` text NOT NULL,
	`phase` integer NOT NULL,
	`transitions` integer NOT NULL,
	`open_until` integer NOT NULL,
	`changed_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `breaker_states_updated_idx` ON `breaker_states` (`updated_at`);--> statement-breakpoint
CREATE INDEX `sessions_depth_idx` ON `sessions` (`tenant_id`,`channel`) WHERE inbox_depth > 0 OR outbox_depth > 0;