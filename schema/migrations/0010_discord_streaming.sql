ALTER TABLE `channel_accounts` ADD `public_key` text;--> statement-breakpoint
ALTER TABLE `channel_accounts` ADD `stream_replies` integer DEFAULT 0 NOT NULL;