// Accept-Language (RFC 9110 §12.5.4) as the routing facts accept_language / accept_languages:
// the client's preferred languages, most preferred first. The header is the client's, so the
// parser is linear and bounded: it reads at most MAX_HEADER_CHARS and MAX_RANGES ranges, splits
// on ',' and ';' (no regex over the whole value), checks each subtag with an anchored
// single-class pattern, and skips any part it cannot read instead of failing the request.
//   "ja-JP,ja;q=0.9,en;q=0.8" -> ["ja-JP", "ja", "en"]
// Weights order the ranges (ties keep the header's order); q=0 ("not acceptable") is left out;
// "*" (any other language) is kept in place; tags come back in their conventional case
// (language lower, script title, region upper: "zh-hant-tw" -> "zh-Hant-TW").

export const MAX_HEADER_CHARS = 1024;
export const MAX_RANGES = 32;
// Real tags are far shorter ("zh-Hant-TW", "sl-rozaj-biske"); RFC 4647 asks for at least 35.
const MAX_TAG_CHARS = 64;

const PRIMARY = /^[A-Za-z]{1,8}$/;
const SUBTAG = /^[A-Za-z0-9]{1,8}$/;
// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
const QVALUE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

function canonicalTag(range: string): string | null {
  if (range === "*") return "*";
  if (range.length > MAX_TAG_CHARS) return null;
  const subtags = range.split("-");
  const [primary, ...rest] = subtags;
  if (primary === undefined || !PRIMARY.test(primary) || !rest.every((s) => SUBTAG.test(s))) return null;
  return [
    primary.toLowerCase(),
    ...rest.map((s) => {
      if (s.length === 2 && /^[A-Za-z]{2}$/.test(s)) return s.toUpperCase();
      if (s.length === 4 && /^[A-Za-z]{4}$/.test(s)) return s[0]!.toUpperCase() + s.slice(1).toLowerCase();
      return s.toLowerCase();
    }),
  ].join("-");
}

// The weight of a range's parameters: 1 by default, null when malformed.
function weightOf(params: string[]): number | null {
  let q = 1;
  for (const raw of params) {
    const param = raw.trim();
    if (param === "") continue;
    const eq = param.indexOf("=");
    if (eq === -1) return null;
    if (param.slice(0, eq).trim().toLowerCase() !== "q") continue; // other parameters carry no weight
    const value = param.slice(eq + 1).trim();
    if (!QVALUE.test(value)) return null;
    q = Number(value);
  }
  return q;
}

// The language ranges of an Accept-Language value, most preferred first.
export function parseAcceptLanguage(header: string | null | undefined): string[] {
  if (!header) return [];
  const ranges: { tag: string; q: number; at: number }[] = [];
  const parts = header.slice(0, MAX_HEADER_CHARS).split(",", MAX_RANGES);
  // A part the cut went through is incomplete ("en-U" of "en-US"): left out.
  if (header.length > MAX_HEADER_CHARS && parts.length < MAX_RANGES) parts.pop();
  for (const part of parts) {
    const [range = "", ...params] = part.split(";");
    const tag = canonicalTag(range.trim());
    const q = weightOf(params);
    if (tag === null || q === null || q === 0) continue;
    if (ranges.some((r) => r.tag === tag)) continue;
    ranges.push({ tag, q, at: ranges.length });
  }
  return ranges.sort((a, b) => b.q - a.q || a.at - b.at).map((r) => r.tag);
}

// The facts: the primary language subtag of the first preference (null without one), and every
// preference with the primary subtags of regional ones added after them, for `in` tests
// ("ja-JP,en;q=0.5" -> ["ja-JP", "ja", "en"]). "*" names no language and is left out of both.
export function acceptLanguageFacts(header: string | null): { accept_language: string | null; accept_languages: string[] } {
  const tags = parseAcceptLanguage(header).filter((t) => t !== "*");
  const all: string[] = [];
  for (const tag of tags) {
    if (!all.includes(tag)) all.push(tag);
    const primary = tag.split("-")[0]!;
    if (!all.includes(primary)) all.push(primary);
  }
  return { accept_language: tags[0]?.split("-")[0] ?? null, accept_languages: all };
}
