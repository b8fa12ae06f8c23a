// A Gateway MESSAGE_CREATE as the one InboundMessage shape (the Gateway connection,
// durable-objects/discord-gateway.ts, hands the result to the accept path, ./inbound.ts).
//   answered  every DM (no guild_id); in a guild only a message that mentions the bot (its id in
//             mentions[], or <@id> / <@!id> in the text) or replies to one of the bot's messages
//   ignored   bot authors (other bots and the bot itself: bots answering bots loop), webhooks,
//             and messages with neither text nor attachments (embeds only, joins...)
//   ids       messageId is Discord's message id (unique per bot: the dedupe key, so a message the
//             Gateway replays after a RESUME is answered once); chatId is the channel; a guild
//             channel is the group (Discord threads are channels of their own, so threadId is null)
import { discordMessageCreate } from "../../schema/discord-gateway.ts";
import type { InboundMessage } from "../../schema/channels.ts";
import type { AccountConfig } from "./types.ts";

// Text the agent sees is bounded like every channel's (schema/channels.ts bounds hook text at 32,000).
const MAX_TEXT = 8_000;

function commandWord(text: string): "start" | "reset" | null {
  const word = text.trim().toLowerCase();
  return word === "reset" || word === "start" || word === "/reset" || word === "/start" ? (word.replace("/", "") as "start" | "reset") : null;
}

// The mention forms of a user id, found and removed by plain string search: an id never becomes a
// RegExp (test/security/ refuses dynamic patterns).
function mentionForms(botId: string): string[] {
  return [`<@${botId}>`, `<@!${botId}>`];
}

export function mentionsBot(content: string, mentionIds: readonly string[], botId: string): boolean {
  return mentionIds.includes(botId) || mentionForms(botId).some((form) => content.includes(form));
}

export function stripBotMention(content: string, botId: string): string {
  let text = content;
  for (const form of mentionForms(botId)) text = text.split(form).join(" ");
  // Collapse what the removal left, without a quadratic pattern: split on spaces, drop the empties.
  return text
    .split(" ")
    .filter((part) => part.length > 0)
    .join(" ")
    .trim();
}

// null: nothing to answer (ignored by the rules above) or a payload that is not a message we can
// read (logged: the Gateway is Discord's, a broken event must not stop the connection).
export function discordMessage(data: unknown, account: AccountConfig, now: number): InboundMessage | null {
  const parsed = discordMessageCreate.safeParse(data);
  if (!parsed.success) {
    console.warn(JSON.stringify({ level: "warn", msg: "discord MESSAGE_CREATE unreadable", account: account.id, issue: parsed.error.issues[0]?.message ?? "invalid" }));
    return null;
  }
  const m = parsed.data;
  const botId = account.botUsername;
  if (m.author.bot === true || m.webhook_id !== undefined) return null;
  if (botId !== null && m.author.id === botId) return null;
  const dm = m.guild_id === undefined;
  if (!dm) {
    if (botId === null) return null;
    const replyToBot = m.referenced_message?.author?.id === botId;
    if (!replyToBot && !mentionsBot(m.content, m.mentions.map((u) => u.id), botId)) return null;
  }
  const text = (botId === null ? m.content.trim() : stripBotMention(m.content, botId)).slice(0, MAX_TEXT);
  const attachments = m.attachments.map((a) => ({ kind: "file", ref: a.id }));
  if (!text && attachments.length === 0) return null;
  // A file without words still reaches the agent as a turn it can answer.
  const said = text || m.attachments.map((a) => `[file: ${(a.filename ?? a.id).slice(0, 200)}]`).join(" ");
  return {
    tenantId: account.tenantId,
    channel: "discord",
    accountId: account.id,
    peerId: m.author.id,
    groupId: dm ? null : m.channel_id,
    threadId: null,
    chatId: m.channel_id,
    messageId: m.id,
    replyToId: m.id,
    text: said,
    command: commandWord(text),
    sender: { id: m.author.id, name: (m.author.global_name ?? m.author.username ?? null)?.slice(0, 100) ?? null },
    attachments,
    callbackUrl: null,
    receivedAt: now,
  };
}
