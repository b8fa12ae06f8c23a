-- A channel account's own ingress limits (JSON; null: the deployment defaults).
ALTER TABLE `channel_accounts` ADD `limits` text;
