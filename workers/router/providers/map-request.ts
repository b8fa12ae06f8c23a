// Applies an adapter's parameter map to a validated OpenAI request.
import type { MapContext, ProviderAdapter } from "./types.ts";

export function mapRequest(adapter: ProviderAdapter, ctx: MapContext): Record<string, unknown> {
  const mapped: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(ctx.request)) {
    if (value === undefined) continue;
    const rule = adapter.params[field as keyof typeof adapter.params];
    if (!rule) continue;
    const out = rule.transform ? rule.transform(value, ctx) : value;
    if (out !== undefined) mapped[rule.to] = out;
  }
  return adapter.finalizeBody ? adapter.finalizeBody(mapped, ctx) : mapped;
}
