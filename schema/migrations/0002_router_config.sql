CREATE TABLE `route_config_heads` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `route_config_versions` (
	`tenant_id` text NOT NULL,
	`version` integer NOT NULL,
	`config` text NOT NULL,
	`created_at` integer NOT NULL,
	`actor` text NOT NULL,
	`rolled_back_from` integer,
	`comment` text,
	PRIMARY KEY(`tenant_id`, `version`)
);
