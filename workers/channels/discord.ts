// Discord adapter, the HTTP half: the Interactions endpoint (slash commands) and the REST sends
// that answer both interactions and Gateway messages (durable-objects/discord-gateway.ts and
// ./discord-message.ts bring those in). https://discord.com/developers/docs/interactions/receiving-and-responding
//   verify  Ed25519 over "{X-Signature-Timestamp}{raw body}" with the application's public key
//           (X-Signature-Ed25519, 64 bytes hex), WebCrypto's verify; a timestamp more than
//           5 minutes off is a replay and refused, whatever its signature
//   handshake  PING (type 1) -> PONG {type:1}: Discord's check when the endpoint URL is saved
//   parse   APPLICATION_COMMAND /ask text:<question> (the option is named `text`) and /reset;
//           the dedupe key is the interaction id; in a guild the conversation is the channel
//           (groupId = channel id, like a Telegram group), in a DM the user. A slash command is
//           always addressed to the bot. Everything else (components, autocomplete, modals,
//           other commands) is acknowledged and ignored
//   ack     an accepted (or duplicate) command: a deferred answer {type:5} ("thinking..."), later
//           replaced by the reply; refused ones: an ephemeral message {type:4, flags:64} saying why
//   send    an interaction's reply: PATCH /webhooks/{app}/{token}/messages/@original (then the
//           reply's further parts, which carry no interaction, go to the channel with the bot
//           token); a Gateway message's reply: POST /channels/{id}/messages with a
//           message_reference to it. Mentions in a reply never ping (allowed_mentions parse [])
//   edit    PATCH the interaction's message (@original or an id) or /channels/{id}/messages/{id}
import type { InboundMessage } from "../../schema/channels.ts";
import { discordCommandData, discordInteraction, discordInteractionEnvelope, InteractionType } from "../../schema/discord.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { discordCall, DISCORD_MAX_TEXT, interactionGone, interactionOf, interactionReplyTo, isSnowflake, type InteractionRef } from "./discord-rest.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { AccountConfig, ChannelAdapter, Delivery, SendIntent, SendResult, VerifiableAccount } from "./types.ts";

// Discord's own window is 5 seconds to answer; a signed request older than this is a replay.
export const DISCORD_REPLAY_WINDOW_S = 300;

const encoder = new TextEncoder();
// Replies never ping @everyone, roles or users, whatever the model wrote.
const NO_PINGS = { parse: [] as string[] };
// Ephemeral: only the user who ran the command sees it.
const EPHEMERAL = 64;

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

async function signatureValid(delivery: Delivery, account: VerifiableAccount): Promise<boolean> {
  const timestamp = delivery.headers.get("x-signature-timestamp") ?? "";
  const signature = delivery.headers.get("x-signature-ed25519") ?? "";
  const key = account.publicKey ?? "";
  if (!/^\d{1,12}$/.test(timestamp) || !/^[0-9a-fA-F]{128}$/.test(signature) || !/^[0-9a-fA-F]{64}$/.test(key)) return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > DISCORD_REPLAY_WINDOW_S) return false;
  try {
    const publicKey = await crypto.subtle.importKey("raw", hexBytes(key), { name: "Ed25519" }, false, ["verify"]);
    return await crypto.subtle.verify({ name: "Ed25519" }, publicKey, hexBytes(signature), encoder.encode(`${timestamp}${delivery.body}`));
  } catch {
    // A key that is not a curve point: nothing it could verify.
    return false;
  }
}

// The command an APPLICATION_COMMAND names, with /ask's question; null for a command we do not have.
function commandOf(data: unknown): { kind: "ask"; text: string } | { kind: "reset" } | { kind: "unknown"; name: string } {
  const command = parseOr400(discordCommandData, data);
  const name = command.name.toLowerCase();
  if (name === "reset") return { kind: "reset" };
  if (name !== "ask") return { kind: "unknown", name };
  const option = command.options?.find((o) => o.name === "text");
  return { kind: "ask", text: typeof option?.value === "string" ? option.value.trim() : "" };
}

function ephemeral(content: string) {
  return { type: 4, data: { content, flags: EPHEMERAL, allowed_mentions: NO_PINGS } };
}

// Why a command got no answer from the agent, shown to the user who ran it.
const REFUSALS: Record<string, string> = {
  rate_limited: "Too many messages right now; try again in a moment.",
  unbound: "No agent is bound to this Discord application yet.",
  tenant_revoked: "This EdgeClaw workspace is not active.",
};

async function botToken(env: Env, account: AccountConfig): Promise<{ ok: true; token: string } | { ok: false; result: SendResult }> {
  // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
  const secret = await resolveSecret(env, account.tenantId, account.tokenRef, "DISCORD_");
  if (secret.ok) return { ok: true, token: secret.value };
  return { ok: false, result: { ok: false, retryable: secret.code === "vault_unavailable", retryAfterMs: null, error: `bot token: ${secret.message}` } };
}

function interactionPath(ix: InteractionRef, messageId: string): string {
  return `/webhooks/${ix.appId}/${ix.token}/messages/${messageId}`;
}

async function postToChannel(intent: SendIntent, account: AccountConfig, env: Env): Promise<SendResult> {
  if (!isSnowflake(intent.chatId)) return { ok: false, retryable: false, retryAfterMs: null, error: "discord: the chat id is not a channel id" };
  const token = await botToken(env, account);
  if (!token.ok) return token.result;
  const body: Record<string, unknown> = { content: intent.text, allowed_mentions: NO_PINGS };
  // A Gateway message is answered as a reply to it (still sent when it was deleted meanwhile).
  if (isSnowflake(intent.replyToId)) body.message_reference = { message_id: intent.replyToId, fail_if_not_exists: false };
  const path = `/channels/${intent.chatId}/messages`;
  return (await discordCall(env, account, { method: "POST", path, label: "POST /channels/{id}/messages", botToken: token.token, body })).result;
}

export const discord: ChannelAdapter = {
  channel: "discord",
  maxTextLength: DISCORD_MAX_TEXT,
  // Discord allows 5 messages per 5 s into a channel.
  minSendIntervalMs: 1000,
  // The global limit is 50 requests per second per bot: at most burst + rate in any second, 5 + 45.
  accountSendRate: { perSecond: 45, burst: 5 },
  // Message edits share the channel's 5 per 5 s bucket with sends: a little slower than one a second.
  editIntervalMs: 1200,
  signsBody: true,

  verify(delivery, account) {
    return signatureValid(delivery, account);
  },

  handshake(delivery) {
    return parseOr400(discordInteractionEnvelope, deliveryJson(delivery, "interaction")).type === InteractionType.PING ? { type: 1 } : null;
  },

  ackBody(delivery, status) {
    const json = deliveryJson(delivery, "interaction");
    const type = parseOr400(discordInteractionEnvelope, json).type;
    if (type !== InteractionType.APPLICATION_COMMAND) {
      // Autocomplete wants choices; a component or a modal is acknowledged without a change
      // (type 6, "deferred update"), which is all Discord accepts for them without a message.
      return type === InteractionType.AUTOCOMPLETE ? { type: 8, data: { choices: [] } } : { type: 6 };
    }
    if (status === "accepted" || status === "duplicate") return { type: 5 };
    const refusal = REFUSALS[status];
    if (refusal) return ephemeral(refusal);
    const interaction = discordInteraction.safeParse(json);
    const command = interaction.success ? commandOf(interaction.data.data) : null;
    if (command?.kind === "ask") return ephemeral("Ask something: /ask text:<your question>");
    return ephemeral("I know /ask and /reset.");
  },

  parse(delivery, account, now) {
    const json = deliveryJson(delivery, "interaction");
    if (parseOr400(discordInteractionEnvelope, json).type !== InteractionType.APPLICATION_COMMAND) return null;
    const interaction = parseOr400(discordInteraction, json);
    const command = commandOf(interaction.data);
    if (command.kind === "unknown" || (command.kind === "ask" && command.text === "")) return null;
    const user = interaction.member?.user ?? interaction.user;
    if (!user || interaction.channel_id === undefined) throw new ApiError(400, "invalid_request", "The command names no user or channel.");
    const name = interaction.member?.nick ?? user.global_name ?? user.username ?? null;
    const text = command.kind === "reset" ? "reset" : command.text;
    return {
      tenantId: account.tenantId,
      channel: "discord",
      accountId: account.id,
      peerId: user.id,
      // In a guild the channel is the conversation (everyone in it talks to one session).
      groupId: interaction.guild_id !== undefined ? interaction.channel_id : null,
      // Discord threads are channels of their own: the channel id already tells them apart.
      threadId: null,
      chatId: interaction.channel_id,
      messageId: `ix:${interaction.id}`,
      replyToId: interactionReplyTo(interaction.application_id, interaction.token),
      text,
      command: command.kind === "reset" ? "reset" : null,
      sender: { id: user.id, name },
      attachments: [],
      callbackUrl: null,
      receivedAt: now,
    } satisfies InboundMessage;
  },

  async send(intent, account, ctx) {
    const ix = interactionOf(intent.replyToId);
    if (ix) {
      const body = { content: intent.text, allowed_mentions: NO_PINGS };
      const answer = await discordCall(ctx.env, account, { method: "PATCH", path: interactionPath(ix, "@original"), label: "PATCH interaction @original", botToken: null, body });
      // Past the token's 15 minutes (a long retry) the reply still reaches the channel.
      if (answer.result.ok || !interactionGone(answer.status)) return answer.result;
    }
    return postToChannel(ix ? { ...intent, replyToId: null } : intent, account, ctx.env);
  },

  async edit(intent, account, ctx) {
    const id = intent.editMessageId;
    if (id !== "@original" && !isSnowflake(id)) return { ok: false, retryable: false, retryAfterMs: null, error: "discord: not a message id to edit" };
    const body = { content: intent.text, allowed_mentions: NO_PINGS };
    const ix = interactionOf(intent.replyToId);
    if (ix) {
      const answer = await discordCall(ctx.env, account, { method: "PATCH", path: interactionPath(ix, id), label: "PATCH interaction message", botToken: null, body });
      if (answer.result.ok || !interactionGone(answer.status) || id === "@original") return answer.result;
    }
    if (id === "@original" || !isSnowflake(intent.chatId)) return { ok: false, retryable: false, retryAfterMs: null, error: "discord: no channel message to edit" };
    const token = await botToken(ctx.env, account);
    if (!token.ok) return token.result;
    const path = `/channels/${intent.chatId}/messages/${id}`;
    return (await discordCall(ctx.env, account, { method: "PATCH", path, label: "PATCH /channels/{id}/messages/{id}", botToken: token.token, body })).result;
  },

  // An interaction's deferred answer already stands for the reply: streaming edits it.
  streamTarget(intent) {
    return interactionOf(intent.replyToId) ? "@original" : null;
  },
};
