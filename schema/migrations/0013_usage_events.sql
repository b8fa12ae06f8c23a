CREATE TABLE `usage_events` (
	`id` text PRIMARY KEY NOT NULL,
	`at` integer NOT NULL,
	`tenant_id` text NOT NULL,
	`key_id` text,
	`agent_id` text,
	`channel` text,
	`route` text NOT NULL,
	`model` text NOT NULL,
	`provider` text,
	`upstream_model` text,
	`target` text,
	`replica` text,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`tokens_estimated` integer NOT NULL,
	`cost_micro_usd` real NOT NULL,
	`latency_ms` integer NOT NULL,
	`ttft_ms` integer,
	`status` integer NOT NULL,
	`error_class` text,
	`cache` text,
	`attempts` integer NOT NULL,
	`fallbacks` text,
	`request_id` text NOT NULL,
	`trace_id` text
);
--> statement-breakpoint
CREATE INDEX `usage_events_tenant_at_idx` ON `usage_events` (`tenant_id`,`at`);--> statement-breakpoint
CREATE INDEX `usage_events_at_idx` ON `usage_events` (`at`);