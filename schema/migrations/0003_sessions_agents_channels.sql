CREATE TABLE `agent_bindings` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`channel` text,
	`account_id` text,
	`group_id` text,
	`peer_id` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`agent_id`) REFERENCES `agents`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `agent_bindings_match_uq` ON `agent_bindings` (`tenant_id`,`channel`,`account_id`,`group_id`,`peer_id`);--> statement-breakpoint
CREATE INDEX `agent_bindings_agent_idx` ON `agent_bindings` (`agent_id`);--> statement-breakpoint
CREATE TABLE `agents` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`system_prompt` text NOT NULL,
	`model` text NOT NULL,
	`history_token_budget` integer NOT NULL,
	`max_reply_tokens` integer NOT NULL,
	`dm_policy` text NOT NULL,
	`allowlist` text NOT NULL,
	`session_ttl_s` integer NOT NULL,
	`merge_queued` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `agents_tenant_name_uq` ON `agents` (`tenant_id`,`name`);--> statement-breakpoint
CREATE TABLE `channel_accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`channel` text NOT NULL,
	`name` text NOT NULL,
	`api_base_url` text,
	`token_ref` text,
	`secret_hash` text,
	`bot_username` text,
	`send_interval_ms` integer,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `channel_accounts_tenant_name_uq` ON `channel_accounts` (`tenant_id`,`name`);--> statement-breakpoint
CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`session_key` text NOT NULL,
	`intent_id` integer NOT NULL,
	`channel` text NOT NULL,
	`attempts` integer NOT NULL,
	`last_error` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `dead_letters_tenant_idx` ON `dead_letters` (`tenant_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `dead_letters_session_idx` ON `dead_letters` (`session_key`);--> statement-breakpoint
CREATE TABLE `pairings` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`channel` text NOT NULL,
	`account_id` text NOT NULL,
	`peer_id` text NOT NULL,
	`session_key` text NOT NULL,
	`code` text NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`approved_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `pairings_sender_uq` ON `pairings` (`agent_id`,`channel`,`account_id`,`peer_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `pairings_code_uq` ON `pairings` (`tenant_id`,`code`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`key` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`agent_id` text NOT NULL,
	`channel` text NOT NULL,
	`account_id` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sessions_tenant_idx` ON `sessions` (`tenant_id`,`created_at`);