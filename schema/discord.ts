// zod schemas for what Discord sends the Interactions endpoint
// (https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object)
// and what its REST API answers (a message object, a 429 body), the fields the adapter
// (workers/channels/discord.ts) reads, each bounded. Gateway payloads live in schema/discord-gateway.ts.
import { z } from "zod";

// Discord ids are snowflakes: a 64-bit integer as a decimal string.
export const discordSnowflake = z.string().regex(/^\d{1,20}$/, "a Discord snowflake");

// An interaction's token: the credential of its webhook (valid 15 minutes). Discord's are
// URL-safe base64 with dots; bounded so it can sit in a URL path and a stored intent.
export const discordInteractionToken = z.string().regex(/^[A-Za-z0-9_.-]{1,500}$/, "1-500 of A-Z, a-z, 0-9, _, . and -");

export const InteractionType = { PING: 1, APPLICATION_COMMAND: 2, MESSAGE_COMPONENT: 3, AUTOCOMPLETE: 4, MODAL_SUBMIT: 5 } as const;

// Every interaction has a type; PING (the endpoint check) needs nothing else.
export const discordInteractionEnvelope = z.looseObject({ type: z.number().int().min(1).max(100) });

const discordUser = z.looseObject({
  id: discordSnowflake,
  username: z.string().max(100).optional(),
  global_name: z.string().max(100).nullable().optional(),
  bot: z.boolean().optional(),
});

// A command option: /ask's `text` is a string (Discord caps string options at 6,000 characters).
const commandOption = z.looseObject({
  name: z.string().min(1).max(32),
  type: z.number().int(),
  value: z.union([z.string().max(6_000), z.number(), z.boolean()]).optional(),
});

export const discordCommandData = z.looseObject({
  id: discordSnowflake.optional(),
  name: z.string().min(1).max(32),
  type: z.number().int().optional(),
  options: z.array(commandOption).max(25).optional(),
});

export const discordInteraction = z.looseObject({
  id: discordSnowflake,
  application_id: discordSnowflake,
  type: z.number().int().min(1).max(100),
  token: discordInteractionToken,
  // In a guild: guild_id and member (with the user); in a DM: user.
  guild_id: discordSnowflake.optional(),
  channel_id: discordSnowflake.optional(),
  member: z.looseObject({ user: discordUser, nick: z.string().max(100).nullable().optional() }).optional(),
  user: discordUser.optional(),
  // Read as command data only for APPLICATION_COMMAND; components and modals carry other shapes.
  data: z.unknown().optional(),
});
export type DiscordInteraction = z.infer<typeof discordInteraction>;

// What the REST API answers for a created or edited message (the fields we keep).
export const discordMessageAnswer = z.looseObject({ id: discordSnowflake, channel_id: discordSnowflake.optional() });

// A 429's body (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit).
export const discordRateLimitAnswer = z.looseObject({
  message: z.string().max(1_000).optional(),
  retry_after: z.number().min(0).optional(),
  global: z.boolean().optional(),
  code: z.number().int().optional(),
});

// Any other error body: {code, message} (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json).
export const discordErrorAnswer = z.looseObject({ code: z.number().int().optional(), message: z.string().max(1_000).optional() });
