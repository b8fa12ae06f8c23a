// Slack message text (https://api.slack.com/reference/surfaces/formatting): what comes in is
// escaped (&amp; &lt; &gt;) and names users as <@U123> / <@U123|name>; what goes out must escape
// the same three characters, or a reply could ping <!channel> or forge a link. Long replies are
// split into messages of at most SLACK_MAX_TEXT characters as sent (escaped), never inside a ```
// code block when a better cut exists. (A reply's <...> is escaped, so it never renders as a
// link or mention, and a cut there breaks nothing.)

// Slack accepts 40,000 characters, but renders mrkdwn blocks over ~3,000 badly (and truncates
// section text at 3,000): one reply message stays under that.
export const SLACK_MAX_TEXT = 3_000;

export function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

export function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// The bot's mentions in the text, <@U123> or <@U123|name>, as [start, end) ranges. A scan, not a
// RegExp built from the id: the id comes from an admin and must not become a pattern.
function mentionRanges(text: string, botUserId: string): [number, number][] {
  const ranges: [number, number][] = [];
  const open = `<@${botUserId}`;
  for (let i = text.indexOf(open); i !== -1; i = text.indexOf(open, i + 1)) {
    const after = i + open.length;
    if (text[after] === ">") ranges.push([i, after + 1]);
    else if (text[after] === "|") {
      const close = text.indexOf(">", after);
      if (close !== -1) ranges.push([i, close + 1]);
    }
  }
  return ranges;
}

export function mentions(text: string, botUserId: string | null): boolean {
  return botUserId !== null && mentionRanges(text, botUserId).length > 0;
}

// The text without the bot's own mention (the agent need not read its name on every turn).
export function stripMention(text: string, botUserId: string | null): string {
  let stripped = text;
  if (botUserId !== null) {
    let out = "";
    let from = 0;
    for (const [start, end] of mentionRanges(text, botUserId)) {
      if (start < from) continue;
      out += `${text.slice(from, start)} `;
      from = end;
    }
    stripped = out + text.slice(from);
  }
  return stripped.replace(/[ \t]{2,}/g, " ").trim();
}

const FENCE = "```";

function fencesBefore(text: string, end: number): number[] {
  const at: number[] = [];
  for (let i = text.indexOf(FENCE); i !== -1 && i < end; i = text.indexOf(FENCE, i + FENCE.length)) at.push(i);
  return at;
}

// The best cut at or before `max`: a newline, else a space, in the second half.
function naturalCut(text: string, max: number): number {
  let cut = text.lastIndexOf("\n", max);
  if (cut < max / 2) cut = text.lastIndexOf(" ", max);
  if (cut < max / 2) cut = max;
  return cut;
}

// How many leading characters of `text` fit in `max` once escaped (escapeSlack turns & into five
// characters, < and > into four): a reply of angle brackets must not pass the limit when sent.
function fitting(text: string, max: number): number {
  let used = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    used += ch === "&" ? 5 : ch === "<" || ch === ">" ? 4 : 1;
    if (used > max) return i;
  }
  return text.length;
}

// Splits `text` into parts of at most `max` characters once escaped. A cut that would fall inside
// a code block moves before the block's opening fence; a block longer than a message is cut
// inside but closed and reopened, so every part renders as code.
export function splitSlack(text: string, max = SLACK_MAX_TEXT): string[] {
  const parts: string[] = [];
  let rest = text.length > 0 ? text : "…";
  // Room for the "\n```" that closes a block cut inside.
  const limit = Math.max(16, max - FENCE.length - 1);
  while (fitting(rest, max) < rest.length) {
    let cut = naturalCut(rest, fitting(rest, limit));
    let reopen = false;
    const fences = fencesBefore(rest, cut);
    if (fences.length % 2 === 1) {
      const open = fences[fences.length - 1] as number;
      if (rest.slice(0, open).trim().length > 0) cut = open;
      else reopen = true;
    }
    if (reopen) {
      parts.push(`${rest.slice(0, cut).trimEnd()}\n${FENCE}`);
      rest = `${FENCE}\n${rest.slice(cut).replace(/^\n/, "")}`;
      continue;
    }
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, "");
  }
  if (rest.length > 0) parts.push(rest);
  return parts;
}
