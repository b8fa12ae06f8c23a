// Applies an adapter's parameter map to a validated OpenAI request, and says which of the
// request's parameters the adapter cannot carry (x-edgeclaw-dropped-params; a route with
// drop_params: false refuses such a target instead).
import { knownChatParams } from "../../../schema/openai.ts";
import type { MapContext, ParamRule, ProviderAdapter } from "./types.ts";

function ruleOf(adapter: ProviderAdapter, field: string): ParamRule | null | undefined {
  return knownChatParams.has(field) ? adapter.params[field as keyof typeof adapter.params] : undefined;
}

// A value the adapter leaves out and the client should hear about.
function isDropped(adapter: ProviderAdapter, field: string, value: unknown, ctx: MapContext): boolean {
  if (value === undefined || value === null) return false;
  const rule = ruleOf(adapter, field);
  if (rule === undefined) return adapter.extras === "drop";
  if (rule === null) return true;
  return rule.drops?.(value, ctx) ?? false;
}

export function mapRequest(adapter: ProviderAdapter, ctx: MapContext): Record<string, unknown> {
  const native = adapter.nativeBody?.(ctx);
  if (native) return native;
  const mapped: Record<string, unknown> = {};
  // max_completion_tokens is OpenAI's current name for max_tokens: where a family has one field
  // for both, it wins (mapped last), as it does in the facts that reserved the tokens.
  const entries = Object.entries(ctx.request).sort(([a], [b]) => Number(a === "max_completion_tokens") - Number(b === "max_completion_tokens"));
  for (const [field, value] of entries) {
    if (value === undefined || isDropped(adapter, field, value, ctx)) continue;
    // null is OpenAI's "the default": an upstream of that dialect gets it as sent, another
    // family (whose fields may not take null) gets nothing.
    if (value === null && adapter.extras === "drop") continue;
    const rule = ruleOf(adapter, field);
    if (rule === undefined) {
      mapped[field] = value;
      continue;
    }
    if (rule === null) continue;
    const out = rule.transform ? rule.transform(value, ctx) : value;
    if (out !== undefined) mapped[rule.to] = out;
  }
  return adapter.finalizeBody ? adapter.finalizeBody(mapped, ctx) : mapped;
}

// The request's parameters the adapter would leave out (wholly or partly), sorted.
export function droppedParams(adapter: ProviderAdapter, ctx: MapContext): string[] {
  if (adapter.nativeBody?.(ctx)) return [];
  return Object.entries(ctx.request)
    .filter(([field, value]) => isDropped(adapter, field, value, ctx) || (value != null && ruleOf(adapter, field)?.partly?.(value, ctx) === true))
    .map(([field]) => field)
    .sort();
}
