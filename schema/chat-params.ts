// The top-level fields of a chat request that the gateway does not know (schema/openai.ts knows
// OpenAI's and the common vLLM/llama.cpp sampling fields). They are passed through to
// OpenAI-compatible upstreams, because servers grow parameters faster than any gateway (vLLM's
// guided_*, chat_template_kwargs, OpenRouter's provider, ...); but:
//   - a near miss of a known name (`max_token`, `temprature`, `top-p`, `maxTokens`) is a 400
//     with a did-you-mean hint, even in pass-through mode: silently forwarding a typo would
//     leave the client wondering why its max_tokens had no effect;
//   - they are bounded (count, name, nesting, values, bytes), so a body cannot make an
//     upstream (or the gateway's cache key) walk something huge.
// Whether a route accepts them at all (strict_params) and what happens where a family cannot
// carry them (drop_params) is the route's choice, applied once the route is known
// (workers/router/params.ts).
import type { z } from "zod";
import { jsonBoundsFailure } from "./json-bounds.ts";

export const MAX_EXTRA_PARAMS = 32;
export const MAX_EXTRA_DEPTH = 16;
export const MAX_EXTRA_VALUES = 2_000;
export const MAX_EXTRA_BYTES = 64 * 1024;
// Parameter names are identifiers; anything else is not a parameter an upstream reads.
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export function unknownParamNames(request: Record<string, unknown>, known: ReadonlySet<string>): string[] {
  return Object.keys(request).filter((k) => !known.has(k) && request[k] !== undefined);
}

// An operation's fields that neither it nor chat knows (already bounded by unknownParamsCheck),
// for the chat view of its request: a provider kind that translates the operation to chat then
// leaves them out and names them in x-edgeclaw-dropped-params, as it does for chat. (A field chat
// knows keeps out of the view: it would be translated into a call that never asked for it.)
export function extraParams(request: Record<string, unknown>, known: ReadonlySet<string>, chatKnown: ReadonlySet<string>): Record<string, unknown> {
  const extras: Record<string, unknown> = {};
  for (const name of unknownParamNames(request, known)) if (!chatKnown.has(name)) extras[name] = request[name];
  return extras;
}

// "maxTokens", "Max-Tokens", "max.tokens" -> "max_tokens".
function normalized(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[-. ]/g, "_");
}

// Optimal string alignment distance, stopping early above 1 (only 0 or 1 matter here).
function withinOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  if (i === a.length && i === b.length) return true;
  const rest = (x: number, y: number) => a.slice(x) === b.slice(y);
  // substitution, deletion, insertion, transposition at the first difference
  return rest(i + 1, i + 1) || rest(i + 1, i) || rest(i, i + 1) || (a[i] === b[i + 1] && a[i + 1] === b[i] && rest(i + 2, i + 2));
}

// The known name a client most likely meant, or null. Same name once normalized (case, camel
// case, '-' or '.' for '_'), or one edit away (a letter missing, extra, wrong or swapped) for
// names of 6 or more letters: shorter names are too close to each other to guess (`top_a`,
// OpenRouter's, is one letter from `top_p` and `top_k`).
export function didYouMean(name: string, known: ReadonlySet<string>): string | null {
  const norm = normalized(name);
  if (norm !== name && known.has(norm)) return norm;
  if (norm.length < 6) return null;
  for (const k of known) if (k.length >= 6 && withinOne(norm, k)) return k;
  return null;
}

function issue(ctx: z.core.$RefinementCtx, key: string | null, code: string, message: string): void {
  ctx.addIssue({ code: "custom", message, path: key === null ? [] : [key], params: { code } });
}

// For zod .superRefine on the request object.
export function unknownParamsCheck(known: ReadonlySet<string>) {
  return (request: Record<string, unknown>, ctx: z.core.$RefinementCtx) => {
    const names = unknownParamNames(request, known);
    if (names.length === 0) return;
    // Only as many names as may pass are looked at by name: a body of 200,000 keys is refused by
    // its count, not after 200,000 did-you-mean scans (seconds of CPU per request).
    for (const name of names.slice(0, MAX_EXTRA_PARAMS + 1)) {
      const meant = didYouMean(name, known);
      if (meant !== null) {
        return issue(ctx, name, "unknown_parameter", `Unrecognized request argument supplied: ${name}. Did you mean '${meant}'?`);
      }
      if (!PARAM_NAME.test(name)) {
        return issue(ctx, null, "unknown_parameter", `Unrecognized request argument supplied: ${JSON.stringify(name.slice(0, 80))} is not a parameter name (1-64 of A-Z, a-z, 0-9, _, . and -, starting with a letter or _).`);
      }
    }
    if (names.length > MAX_EXTRA_PARAMS) {
      return issue(ctx, null, "too_many_parameters", `The request has ${names.length} unrecognized top-level fields; at most ${MAX_EXTRA_PARAMS} are passed through.`);
    }
    const extras: Record<string, unknown> = {};
    for (const name of names) extras[name] = request[name];
    // Level 1 is the extras object itself: each field may nest MAX_EXTRA_DEPTH levels.
    const failure = jsonBoundsFailure(extras, MAX_EXTRA_DEPTH + 1, MAX_EXTRA_VALUES);
    if (failure) {
      const where = failure.under === null ? "The unrecognized fields together" : `The unrecognized field '${String(failure.under)}'`;
      return issue(ctx, failure.under === null ? null : String(failure.under), "invalid_value", `${where} ${failure.message.replace(/ \d+ levels/, ` ${MAX_EXTRA_DEPTH} levels`)}: passed-through fields are bounded.`);
    }
    const bytes = JSON.stringify(extras).length;
    if (bytes > MAX_EXTRA_BYTES) {
      issue(ctx, null, "invalid_value", `The unrecognized fields take ${bytes} bytes of JSON; at most ${MAX_EXTRA_BYTES} are passed through.`);
    }
  };
}
