// What conditional rules test, computed once per request: fields of the body, estimates
// (prompt tokens, a complexity score, the language of the last user message) and context the
// client cannot forge (the tenant's tier, the key's priority). Headers are the client's.
import type { Condition, Priority } from "../../schema/route-config.ts";
import type { ChatCompletionRequest } from "../../schema/openai.ts";

export interface RequestFacts {
  max_tokens: number | null;
  temperature: number | null;
  message_count: number;
  prompt_tokens: number;
  tier: string | null;
  complexity: number;
  language: string;
  stream: boolean;
  priority: Priority;
  headers: Headers;
  metadata: Record<string, string>;
}

type Part = { type?: string; text?: string };

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return (content as Part[]).map((p) => (p.type === "text" ? (p.text ?? "") : "")).join(" ");
  return "";
}

// ~4 characters per token for English-like text, plus per-message framing, plus a flat cost for
// each image; close enough to reserve limits and budgets and to route by size.
export function estimatePromptTokens(request: ChatCompletionRequest): number {
  let chars = 0;
  let extra = 0;
  for (const m of request.messages) {
    chars += textOf(m.content).length;
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

const REASONING = /\b(prove|derive|step[- ]by[- ]step|analy[sz]e|explain why|compare|optimi[sz]e|refactor|algorithm|complexity|theorem|debug)\b/gi;
const CODE = /```|\bfunction\b|\bclass\b|\bdef\b|=>|#include|SELECT .* FROM/;

// 0..1: longer prompts, code, reasoning vocabulary, tools and long conversations score higher.
export function complexityScore(request: ChatCompletionRequest, promptTokens: number): number {
  const last = lastUserText(request);
  let score = Math.min(0.4, Math.log10(1 + promptTokens) / 10);
  if (CODE.test(last)) score += 0.2;
  score += Math.min(0.2, (last.match(REASONING)?.length ?? 0) * 0.07);
  if (request.tools && request.tools.length > 0) score += 0.1;
  if (request.messages.length > 10) score += 0.1;
  return Math.round(Math.min(1, score) * 100) / 100;
}

function lastUserText(request: ChatCompletionRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const m = request.messages[i];
    if (m?.role === "user") return textOf(m.content);
  }
  return "";
}

const SCRIPTS: [RegExp, string][] = [
  [/[\u3040-\u30ff]/g, "ja"],
  [/[\uac00-\ud7af]/g, "ko"],
  [/[\u4e00-\u9fff]/g, "zh"],
  [/[\u0400-\u04ff]/g, "ru"],
  [/[\u0600-\u06ff]/g, "ar"],
  [/[\u0590-\u05ff]/g, "he"],
  [/[\u0900-\u097f]/g, "hi"],
  [/[\u0370-\u03ff]/g, "el"],
  [/[\u0e00-\u0e7f]/g, "th"],
];
const STOPWORDS: [string, Set<string>][] = [
  ["en", new Set(["the", "and", "is", "are", "what", "how", "you", "of", "to", "in", "it", "this"])],
  ["es", new Set(["el", "la", "los", "que", "es", "de", "y", "por", "para", "una", "cómo", "qué"])],
  ["fr", new Set(["le", "la", "les", "est", "et", "de", "des", "une", "que", "pour", "vous", "comment"])],
  ["de", new Set(["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "wie", "was", "ich", "mit"])],
  ["pt", new Set(["o", "os", "que", "é", "não", "uma", "para", "com", "como", "você", "do", "da"])],
  ["it", new Set(["il", "che", "è", "non", "una", "per", "con", "come", "sono", "della", "gli", "di"])],
];

// The last user message's language: by script where the script says it, else by stopwords
// among Latin-script languages; "unknown" when nothing matches.
export function detectLanguage(request: ChatCompletionRequest): string {
  const text = lastUserText(request).slice(0, 2000);
  let best = "";
  let bestCount = 0;
  for (const [pattern, lang] of SCRIPTS) {
    const n = text.match(pattern)?.length ?? 0;
    if (n > bestCount) {
      best = lang;
      bestCount = n;
    }
  }
  // Japanese text mixes kana and kanji: any kana makes it Japanese.
  if (best === "zh" && /[\u3040-\u30ff]/.test(text)) best = "ja";
  if (bestCount > 0 && bestCount * 4 >= text.replace(/\s/g, "").length * 0.3) return best;
  const words = text.toLowerCase().split(/[^\p{L}]+/u).filter(Boolean);
  let lang = "unknown";
  let hits = 0;
  for (const [code, set] of STOPWORDS) {
    const n = words.filter((w) => set.has(w)).length;
    if (n > hits) {
      lang = code;
      hits = n;
    }
  }
  return lang;
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
