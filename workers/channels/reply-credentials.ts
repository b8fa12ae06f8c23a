// Some platforms make the reply target itself a credential: a Discord interaction's token
// ("interaction:<application id>:<token>", workers/channels/discord-rest.ts) lets whoever holds it
// post and edit as the bot for 15 minutes, a LINE reply token ("rt:<issued at>:<token>",
// workers/channels/line-events.ts) answers once as the bot. The session keeps them in its inbox
// and outbox to send with; anything that shows an intent to a person (the admin export, read by
// viewers too) shows them redacted.
const CREDENTIAL_TARGETS = ["interaction:", "rt:"];
export const REDACTED = "[redacted]";

export function redactReplyTarget(replyToId: string | null): string | null {
  if (replyToId === null || !CREDENTIAL_TARGETS.some((p) => replyToId.startsWith(p))) return replyToId;
  // What comes before the token (the application id, the issue time) is not secret.
  return `${replyToId.slice(0, replyToId.lastIndexOf(":") + 1)}${REDACTED}`;
}

// A stored intent (JSON) as it may be shown.
export function redactedIntent(intent: string): string {
  const parsed = JSON.parse(intent) as { replyToId?: string | null };
  if (typeof parsed.replyToId !== "string") return intent;
  return JSON.stringify({ ...parsed, replyToId: redactReplyTarget(parsed.replyToId) });
}
