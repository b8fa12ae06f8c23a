-- Slack accounts: the reference (vault:<name> or SLACK_*) to the app's signing secret, which
-- verifies each delivery's X-Slack-Signature. Other platforms leave it null.
ALTER TABLE `channel_accounts` ADD `signing_secret_ref` text;