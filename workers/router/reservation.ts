// The one reservation rule every model call follows, /v1 routes and agent calls alike (turns,
// compaction, heartbeats; a reminder sends a fixed text and calls no model): before the call, reserve the worst case it may cost: the
// prompt estimate with a safety margin plus every output token the call may produce, at the
// route's highest prices; after it, settle with the upstream's real usage at the serving target's
// prices (limits.ts: unused tokens and money go back into the slices, the real cost is reported
// to the budget objects). The margin matters because the prompt estimate (facts.ts: characters / 4
// plus a few tokens per message) is rough: an upstream that counts more prompt tokens than
// reserved would spend past what was reserved, and concurrent calls past a budget's cap.
import type { CompiledRoute } from "./routing.ts";

// The prompt estimate is multiplied by this and this many tokens are added (a short prompt's
// estimate is the most wrong: chat templates add tokens the characters do not show).
export const PROMPT_MARGIN = 1.25;
export const PROMPT_SLACK_TOKENS = 16;

export interface WorstCase {
  // Prompt reserve + max output tokens, for the token buckets.
  tokens: number;
  // The same at the route's highest input and output prices (micro-USD), for the budgets.
  microUsd: number;
}

// The prompt tokens to reserve for a prompt estimated at `estimate` tokens.
export function promptReserve(estimate: number): number {
  return Math.ceil(Math.max(0, estimate) * PROMPT_MARGIN) + PROMPT_SLACK_TOKENS;
}

// What a call with this prompt estimate and output cap may cost at most on this route.
export function worstCase(promptEstimate: number, maxOutputTokens: number, route: Pick<CompiledRoute, "maxInputPrice" | "maxOutputPrice">): WorstCase {
  const prompt = promptReserve(promptEstimate);
  const output = Math.max(0, maxOutputTokens);
  return { tokens: prompt + output, microUsd: prompt * route.maxInputPrice + output * route.maxOutputPrice };
}
