// Bounds on the shape of free-form JSON a client sends on (a response_format JSON schema, tool
// parameters, unknown fields that looseObject passes through): how deep it nests and how many
// values it holds. Upstreams walk such documents recursively (a 1,000-level response_format
// schema crashed the gpu-backend with "Maximum call stack size exceeded"), so the gateway refuses
// them with a 400 first. The walk itself is iterative: it cannot blow the stack it protects.
import type { z } from "zod";

// A JSON schema (response_format.json_schema.schema, tools[].function.parameters) may nest this
// deep (the schema object itself is level 1) and hold this many values. OpenAI's structured
// outputs allow far less (10 levels, 5,000 properties), so no real schema comes near.
export const MAX_SCHEMA_DEPTH = 32;
export const MAX_SCHEMA_VALUES = 10_000;
// The whole request body: room for a maximal schema inside the request's own nesting.
export const MAX_BODY_DEPTH = 64;

// Where it failed: the top-level key or index of `value` under which (null: at the top).
export type JsonBoundsFailure = { under: string | number | null; message: string };

// The first place `value` exceeds the bounds, or null.
export function jsonBoundsFailure(value: unknown, maxDepth: number, maxValues = Infinity): JsonBoundsFailure | null {
  const stack: { v: unknown; depth: number; under: string | number | null }[] = [{ v: value, depth: 1, under: null }];
  let values = 0;
  while (stack.length > 0) {
    const { v, depth, under } = stack.pop() as (typeof stack)[number];
    if (++values > maxValues) return { under: null, message: `holds more than ${maxValues} values` };
    if (v === null || typeof v !== "object") continue;
    if (depth > maxDepth) return { under, message: `nests deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) v.forEach((item, i) => stack.push({ v: item, depth: depth + 1, under: under ?? i }));
    else for (const [k, item] of Object.entries(v)) stack.push({ v: item, depth: depth + 1, under: under ?? k });
  }
  return null;
}

// For zod .superRefine: one issue, at the value itself or (atTopKey) at its top-level key where
// the bound was exceeded, so the 400 names it as `param`.
export function boundedJson(maxDepth: number, maxValues?: number, atTopKey = false) {
  return (value: unknown, ctx: z.core.$RefinementCtx) => {
    if (value === undefined || value === null) return;
    const failure = jsonBoundsFailure(value, maxDepth, maxValues);
    if (failure) ctx.addIssue({ code: "custom", message: failure.message, path: atTopKey && failure.under !== null ? [failure.under] : [] });
  };
}
