-- What a model does: chat (chat and text completions) or embedding (/v1/embeddings). Existing
-- models are chat models.
ALTER TABLE `models` ADD `kind` text DEFAULT 'chat' NOT NULL;