// Text classifiers behind the routing facts (complexity, language). They run on the last user
// message before any limit or budget is reserved, so a client chooses their input. Two rules keep
// every one of them linear and cheap whatever it is sent:
// - each sees a bounded window of the message (classifyWindow: the first 12 Ki and the last
//   4 Ki UTF-16 units; language detection only the first 2,000), never the whole of it;
// - every pattern is a plain alternation of literals (constant work per position), an anchored or
//   single-character class, or a string scan. No `.*` between two literals: `/SELECT .* FROM/`
//   re-scanned the rest of the line from every "SELECT " (1 MB of "SELECT " took 47 s of CPU).
// test/security/node/regex-redos.test.ts checks every regex in the source with recheck;
// test/security/classifiers.test.ts times each classifier on 4 MiB adversarial inputs.

// Instructions tend to come first and the question last (after a pasted document or log), so
// the window keeps both ends. The newline between them stops a match across the cut.
export const WINDOW_HEAD_CHARS = 12 * 1024;
export const WINDOW_TAIL_CHARS = 4 * 1024;
export const LANGUAGE_CHARS = 2000;

export function classifyWindow(text: string): string {
  if (text.length <= WINDOW_HEAD_CHARS + WINDOW_TAIL_CHARS) return text;
  return `${text.slice(0, WINDOW_HEAD_CHARS)}\n${text.slice(text.length - WINDOW_TAIL_CHARS)}`;
}

// classifyWindow(parts.join(separator)) without joining them: a message of many text parts
// costs its window, not its size.
export function classifyWindowOfParts(parts: readonly string[], separator: string): string {
  const total = parts.reduce((n, p) => n + p.length, Math.max(0, parts.length - 1) * separator.length);
  if (total <= WINDOW_HEAD_CHARS + WINDOW_TAIL_CHARS) return parts.join(separator);
  let head = "";
  for (let i = 0; i < parts.length && head.length < WINDOW_HEAD_CHARS; i++) {
    if (i > 0) head += separator;
    head += parts[i]!.slice(0, Math.max(0, WINDOW_HEAD_CHARS - head.length));
  }
  let tail = "";
  for (let i = parts.length - 1; i >= 0 && tail.length < WINDOW_TAIL_CHARS; i--) {
    if (i < parts.length - 1) tail = separator + tail;
    const part = parts[i]!;
    tail = part.slice(Math.max(0, part.length - (WINDOW_TAIL_CHARS - tail.length))) + tail;
  }
  return `${head.slice(0, WINDOW_HEAD_CHARS)}\n${tail.slice(Math.max(0, tail.length - WINDOW_TAIL_CHARS))}`;
}

export const CODE_MARKERS = ["```", "=>", "#include"];
const CODE_WORDS = /\b(?:function|class|def)\b/;
// The characters `.` does not match: "SELECT … FROM" counts only within one line, as before.
const LINE_BREAK = /[\n\r\u2028\u2029]/;

// Code fences, arrows, C includes, common keywords, or an SQL "SELECT … FROM" on one line.
export function looksLikeCode(text: string): boolean {
  return CODE_MARKERS.some((m) => text.includes(m)) || CODE_WORDS.test(text) || hasSelectFrom(text);
}

// One pass per line: the line's first "SELECT " leaves the most room for a later " FROM", so
// checking only it gives the same answer as /SELECT .* FROM/ without any backtracking.
export function hasSelectFrom(text: string): boolean {
  if (!text.includes("SELECT ")) return false;
  for (const line of text.split(LINE_BREAK)) {
    const at = line.indexOf("SELECT ");
    if (at !== -1 && line.indexOf(" FROM", at + 7) !== -1) return true;
  }
  return false;
}

const REASONING = /\b(?:prove|derive|step[- ]by[- ]step|analy[sz]e|explain why|compare|optimi[sz]e|refactor|algorithm|complexity|theorem|debug)\b/gi;

// Reasoning vocabulary hits, counted up to `max` (the score stops growing after three).
export function reasoningHits(text: string, max = 3): number {
  let n = 0;
  // matchAll works on a copy of the regex: no lastIndex shared between calls.
  for (const _ of text.matchAll(REASONING)) {
    if (++n >= max) break;
  }
  return n;
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
const KANA = /[\u3040-\u30ff]/;
const WHITESPACE = /\s/g;
const NON_LETTERS = /[^\p{L}]+/u;
const STOPWORDS: [string, Set<string>][] = [
  ["en", new Set(["the", "and", "is", "are", "what", "how", "you", "of", "to", "in", "it", "this"])],
  ["es", new Set(["el", "la", "los", "que", "es", "de", "y", "por", "para", "una", "cómo", "qué"])],
  ["fr", new Set(["le", "la", "les", "est", "et", "de", "des", "une", "que", "pour", "vous", "comment"])],
  ["de", new Set(["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "wie", "was", "ich", "mit"])],
  ["pt", new Set(["o", "os", "que", "é", "não", "uma", "para", "com", "como", "você", "do", "da"])],
  ["it", new Set(["il", "che", "è", "non", "una", "per", "con", "come", "sono", "della", "gli", "di"])],
];

// The language of a text: by script where the script says it, else by stopwords among
// Latin-script languages; "unknown" when nothing matches. Reads the first LANGUAGE_CHARS only.
export function languageOf(fullText: string): string {
  const text = fullText.slice(0, LANGUAGE_CHARS);
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
  if (best === "zh" && KANA.test(text)) best = "ja";
  if (bestCount > 0 && bestCount * 4 >= text.replace(WHITESPACE, "").length * 0.3) return best;
  const words = text.toLowerCase().split(NON_LETTERS).filter(Boolean);
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

// The patterns above, for the security test to derive adversarial inputs from (every
// alternative's prefix without its end, every script range).
export const PATTERNS = { CODE_WORDS, LINE_BREAK, REASONING, KANA, WHITESPACE, NON_LETTERS, SCRIPTS: SCRIPTS.map(([re]) => re) };

// Every classifier facts.ts runs on message text, by name: the security test times each one on
// adversarial inputs, so a classifier added here is covered without touching the test.
export const CLASSIFIERS: Record<string, (text: string) => unknown> = {
  window: classifyWindow,
  code: (text) => looksLikeCode(classifyWindow(text)),
  reasoning: (text) => reasoningHits(classifyWindow(text)),
  language: languageOf,
};
