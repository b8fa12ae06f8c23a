CREATE TABLE `usage_retention` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`days` integer,
	`updated_at` integer NOT NULL
);
