// What conditional rules test, computed once per request: fields of the body, estimates
// (prompt tokens, a complexity score, the language of the last user message), the client's
// language preferences (Accept-Language) and context the client cannot forge (the tenant's
// tier, the key's priority). Headers are the client's.
import type { Condition, Priority } from "../../schema/route-config.ts";
import type { ChatCompletionRequest } from "../../schema/openai.ts";
import { acceptLanguageFacts } from "./accept-language.ts";
import { classifyWindowOfParts, languageOf, looksLikeCode, reasoningHits } from "./classifiers.ts";

export interface RequestFacts {
  max_tokens: number | null;
  temperature: number | null;
  message_count: number;
  prompt_tokens: number;
  tier: string | null;
  complexity: number;
  language: string;
  // From Accept-Language (accept-language.ts): "ja" for "ja-JP,en;q=0.8", and every preference.
  accept_language: string | null;
  accept_languages: string[];
  stream: boolean;
  priority: Priority;
  headers: Headers;
  metadata: Record<string, string>;
}

type Part = { type?: string; text?: string };

// A message's text: the string, or its text parts (joined by spaces; other parts count as "").
function textsOf(content: unknown): string[] {
  if (typeof content === "string") return [content];
  if (Array.isArray(content)) return (content as Part[]).map((p) => (p.type === "text" ? (p.text ?? "") : ""));
  return [];
}

// The length of that joined text, without building it.
function textLength(content: unknown): number {
  const texts = textsOf(content);
  return texts.reduce((n, t) => n + t.length, Math.max(0, texts.length - 1));
}

// ~4 characters per token for English-like text, plus per-message framing, plus a flat cost for
// each image; close enough to reserve limits and budgets and to route by size.
export function estimatePromptTokens(request: ChatCompletionRequest): number {
  let chars = 0;
  let extra = 0;
  for (const m of request.messages) {
    chars += textLength(m.content);
    extra += 4;
    if (Array.isArray(m.content)) extra += (m.content as Part[]).filter((p) => p.type !== "text").length * 85;
    if ("tool_calls" in m && Array.isArray(m.tool_calls)) chars += JSON.stringify(m.tool_calls).length;
  }
  if (request.tools) chars += JSON.stringify(request.tools).length;
  return Math.ceil(chars / 4) + extra;
}

function requestedMaxTokens(request: ChatCompletionRequest): number | null {
  return request.max_completion_tokens ?? request.max_tokens ?? null;
}

// 0..1: longer prompts, code, reasoning vocabulary, tools and long conversations score higher.
// The text classifiers read a bounded window of the last user message (see classifiers.ts).
export function complexityScore(request: ChatCompletionRequest, promptTokens: number): number {
  const window = lastUserWindow(request);
  let score = Math.min(0.4, Math.log10(1 + promptTokens) / 10);
  if (looksLikeCode(window)) score += 0.2;
  score += Math.min(0.2, reasoningHits(window) * 0.07);
  if (request.tools && request.tools.length > 0) score += 0.1;
  if (request.messages.length > 10) score += 0.1;
  return Math.round(Math.min(1, score) * 100) / 100;
}

// The classifiers' window of the last user message (its text parts are never joined whole).
function lastUserWindow(request: ChatCompletionRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const m = request.messages[i];
    if (m?.role === "user") return classifyWindowOfParts(textsOf(m.content), " ");
  }
  return "";
}

// The last user message's language (see languageOf; it reads the window's head).
export function detectLanguage(request: ChatCompletionRequest): string {
  return languageOf(lastUserWindow(request));
}

export function requestFacts(
  request: ChatCompletionRequest,
  context: { tier: string | null; priority: Priority; headers: Headers },
): RequestFacts {
  const promptTokens = estimatePromptTokens(request);
  return {
    max_tokens: requestedMaxTokens(request),
    temperature: request.temperature ?? null,
    message_count: request.messages.length,
    prompt_tokens: promptTokens,
    tier: context.tier,
    complexity: complexityScore(request, promptTokens),
    language: detectLanguage(request),
    ...acceptLanguageFacts(context.headers.get("accept-language")),
    stream: request.stream === true,
    priority: context.priority,
    headers: context.headers,
    metadata: request.metadata ?? {},
  };
}

function lookup(facts: RequestFacts, field: string): unknown {
  if (field.startsWith("header:")) return facts.headers.get(field.slice(7)) ?? null;
  if (field.startsWith("metadata:")) return facts.metadata[field.slice(9)] ?? null;
  return (facts as unknown as Record<string, unknown>)[field] ?? null;
}

export function matches(cond: Condition, facts: RequestFacts): boolean {
  if ("all" in cond) return cond.all.every((c) => matches(c, facts));
  if ("any" in cond) return cond.any.some((c) => matches(c, facts));
  if ("not" in cond) return !matches(cond.not, facts);
  const actual = lookup(facts, cond.field);
  const expected = cond.value;
  // A list fact (accept_languages) holds when any of its members does: eq / in test
  // membership, ne its absence, exists that it is not empty.
  if (Array.isArray(actual)) {
    const has = (v: unknown) => actual.some((a) => loose(a) === loose(v));
    if (cond.op === "exists") return actual.length > 0;
    if (cond.op === "eq") return has(expected);
    if (cond.op === "ne") return !has(expected);
    if (cond.op === "in") return Array.isArray(expected) && expected.some(has);
    return false;
  }
  switch (cond.op) {
    case "exists":
      return actual !== null;
    case "eq":
      return loose(actual) === loose(expected);
    case "ne":
      return loose(actual) !== loose(expected);
    case "in":
      return Array.isArray(expected) && expected.some((v) => loose(v) === loose(actual));
    default: {
      const a = Number(actual);
      const b = Number(expected);
      if (actual === null || !Number.isFinite(a) || !Number.isFinite(b)) return false;
      if (cond.op === "lt") return a < b;
      if (cond.op === "lte") return a <= b;
      if (cond.op === "gt") return a > b;
      return a >= b;
    }
  }
}

// Header values are strings: compare "4" and 4 alike.
function loose(v: unknown): unknown {
  return typeof v === "number" || typeof v === "boolean" ? String(v) : v;
}
