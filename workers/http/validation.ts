// Turns a zod failure into one clear 400 naming the offending field (OpenAI's `param`).
import type { z } from "zod";
import { ApiError } from "./errors.ts";

type Issue = z.core.$ZodIssue;
type PlacedIssue = { issue: Issue; path: PropertyKey[] };

export function parseOr400<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const { issue, path } = mostSpecific(result.error.issues);
  if (issue.code === "unrecognized_keys") {
    throw new ApiError(
      400,
      "unknown_parameter",
      `Unrecognized request argument supplied: ${issue.keys.join(", ")}`,
      { param: formatPath([...path, issue.keys[0] ?? ""]) },
    );
  }
  const param = formatPath(path);
  // A refinement that names its own error code (schema/chat-params.ts) wrote a whole message.
  const code = issue.code === "custom" ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
  if (typeof code === "string") throw new ApiError(400, code, issue.message, { param: param || null });
  throw new ApiError(400, "invalid_value", `Invalid value for '${param || "body"}': ${issue.message}`, {
    param: param || null,
  });
}

// A union failure lists each branch's issues; the branch that got furthest (longest path) is
// the one the caller meant, so its issue is reported instead of a bare "invalid input".
function mostSpecific(issues: readonly Issue[]): PlacedIssue {
  let best: PlacedIssue | undefined;
  const visit = (issue: Issue, prefix: PropertyKey[]) => {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      for (const branch of issue.errors) for (const sub of branch) visit(sub, path);
      return;
    }
    if (!best || path.length > best.path.length) best = { issue, path };
  };
  for (const issue of issues) visit(issue, []);
  // A failed parse always has at least one issue.
  return best as PlacedIssue;
}

// ["messages", 0, "content"] -> "messages[0].content"
function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
