-- Replicas move from route configs (tenant-written) onto the provider row, next to the
-- credential they receive: JSON [{id, base_url, metrics_url?}] or NULL (schema/provider-replicas.ts).
ALTER TABLE `providers` ADD `replicas` text;
