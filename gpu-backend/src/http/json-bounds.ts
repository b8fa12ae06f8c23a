// Bounds on the shape of a parsed JSON value, checked without recursion. zod (and node-llama-cpp's
// grammar compiler) walk nested values recursively: a 1,000-level response_format schema overflowed
// the stack and answered 500. Checking depth and node count first, with an explicit stack, turns
// such a body into a 400 before anything recursive sees it.
import { ApiError, paramPath } from "./errors.ts";

export type JsonBounds = { maxDepth: number; maxNodes: number };

export type BoundsViolation = { kind: "depth" | "nodes"; path: (string | number)[] };

type Frame = { value: unknown; depth: number; parent: Frame | null; key: string | number | null };

function pathOf(frame: Frame): (string | number)[] {
  const path: (string | number)[] = [];
  for (let f: Frame | null = frame; f && f.key !== null; f = f.parent) path.unshift(f.key);
  return path;
}

/** The first place where `value` is nested deeper than `maxDepth` or has more than `maxNodes` values, or null. */
export function checkJsonBounds(value: unknown, { maxDepth, maxNodes }: JsonBounds): BoundsViolation | null {
  const stack: Frame[] = [{ value, depth: 0, parent: null, key: null }];
  // Counted as values are pushed, so a very wide array fails before its elements fill the stack.
  let nodes = 1;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (v === null || typeof v !== "object") continue;
    if (frame.depth >= maxDepth) return { kind: "depth", path: pathOf(frame) };
    nodes += Array.isArray(v) ? v.length : Object.keys(v).length;
    if (nodes > maxNodes) return { kind: "nodes", path: pathOf(frame) };
    const children: [string | number, unknown][] = Array.isArray(v) ? v.map((c, i) => [i, c]) : Object.entries(v);
    for (let i = children.length - 1; i >= 0; i--) stack.push({ value: children[i]![1], depth: frame.depth + 1, parent: frame, key: children[i]![0] });
  }
  return null;
}

/** A whole chat request: generous, since valid bodies are shallow (messages[i].content[j].text is 4 levels). */
export const BODY_BOUNDS: JsonBounds = { maxDepth: 64, maxNodes: 100_000 };
/** A response_format JSON schema: every node becomes grammar rules, compiled before the request may queue. */
export const SCHEMA_BOUNDS: JsonBounds = { maxDepth: 32, maxNodes: 4_096 };

function refuse(what: string, v: BoundsViolation, bounds: JsonBounds, param: string | null): ApiError {
  const how = v.kind === "depth" ? `is nested deeper than ${bounds.maxDepth} levels` : `has more than ${bounds.maxNodes} values`;
  const at = paramPath(v.path);
  return new ApiError(400, `The ${what} ${how}${at ? ` (at '${at}')` : ""}.`, "invalid_value", param);
}

const SCHEMA_PARAM = "response_format.json_schema.schema";

/** Throws a 400 naming the parameter when the body, or its response_format schema, is too deep or too large. */
export function assertChatBodyBounds(body: unknown): void {
  // The schema first, so a deep schema is refused under its own name rather than the body's.
  const schema = (body as { response_format?: { json_schema?: { schema?: unknown } } } | null)?.response_format?.json_schema?.schema;
  const inSchema = schema === undefined ? null : checkJsonBounds(schema, SCHEMA_BOUNDS);
  if (inSchema) throw refuse("JSON schema", inSchema, SCHEMA_BOUNDS, SCHEMA_PARAM);
  assertToolsBounds(body);
  assertBodyBounds(body);
}

/** Throws a 400 naming the top-level field that holds the excess when any request body is too deep or too large. */
export function assertBodyBounds(body: unknown): void {
  const whole = checkJsonBounds(body, BODY_BOUNDS);
  // param: the top-level field that holds the excess (none when the body itself is the problem).
  if (whole) throw refuse("request body", whole, BODY_BOUNDS, typeof whole.path[0] === "string" ? whole.path[0] : null);
}

/**
 * Tool parameter schemas become grammar rules too, and tool_choice "required" compiles all of them
 * into one grammar: each is held to the schema depth, and all of them together to its node count.
 */
function assertToolsBounds(body: unknown): void {
  const tools = (body as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(tools)) return;
  const schemas: unknown[] = [];
  tools.forEach((t, i) => {
    const schema = (t as { function?: { parameters?: unknown } } | null)?.function?.parameters;
    if (schema === undefined) return;
    const v = checkJsonBounds(schema, SCHEMA_BOUNDS);
    if (v) throw refuse("parameters schema", v, SCHEMA_BOUNDS, `tools[${i}].function.parameters`);
    schemas.push(schema);
  });
  const all = checkJsonBounds(schemas, { maxDepth: SCHEMA_BOUNDS.maxDepth + 1, maxNodes: SCHEMA_BOUNDS.maxNodes });
  if (all) throw refuse("tools' parameters schemas together", all, SCHEMA_BOUNDS, "tools");
}
