// The adapter for each provider kind. Typed by the kind list in schema/admin.ts, so a kind the
// admin API accepts always has an adapter here.
import type { ProviderKind } from "../../../schema/admin.ts";
import { anthropic } from "./anthropic.ts";
import { openAiCompatible } from "./openai-compatible.ts";
import type { ProviderAdapter } from "./types.ts";
import { workersAi } from "./workers-ai.ts";

export const adapters: Readonly<Record<ProviderKind, ProviderAdapter>> = {
  "openai-compatible": openAiCompatible,
  anthropic,
  "workers-ai": workersAi,
};
