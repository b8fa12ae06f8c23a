// zod schemas for what Discord's Gateway sends (https://discord.com/developers/docs/events/gateway)
// and its REST answer naming the socket: only the fields EdgeClaw reads, each bounded, so a hostile
// or broken gateway cannot hand the Durable Object unbounded strings or arrays.
import { z } from "zod";

// Discord ids are snowflakes: decimal 64-bit integers, sent as strings.
export const snowflake = z.string().regex(/^\d{1,20}$/, "a Discord snowflake");

// Every frame: an opcode, its data, and for dispatches (op 0) the sequence number and event name.
export const gatewayFrame = z.looseObject({
  op: z.number().int().min(0).max(100),
  d: z.unknown().optional(),
  s: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  t: z.string().max(100).nullable().optional(),
});
export type GatewayFrame = z.infer<typeof gatewayFrame>;

// op 10 HELLO.
export const gatewayHello = z.looseObject({ heartbeat_interval: z.number().int().min(1).max(3_600_000) });

// READY: the session to resume and the URL to resume it at.
export const gatewayReady = z.looseObject({
  session_id: z.string().min(1).max(200),
  resume_gateway_url: z.string().min(1).max(2048),
  user: z.looseObject({ id: snowflake }).optional(),
});

// GET /gateway/bot.
export const gatewayBot = z.looseObject({ url: z.string().min(1).max(2048) });

const user = z.looseObject({
  id: snowflake,
  username: z.string().max(100).optional(),
  global_name: z.string().max(100).nullable().optional(),
  bot: z.boolean().optional(),
});

// MESSAGE_CREATE (https://discord.com/developers/docs/resources/message#message-object): a
// message is at most 2,000 characters (4,000 with Nitro); 8,000 leaves room and still bounds it.
export const discordMessageCreate = z.looseObject({
  id: snowflake,
  channel_id: snowflake,
  guild_id: snowflake.optional(),
  author: user,
  content: z.string().max(8_000).default(""),
  webhook_id: snowflake.optional(),
  mentions: z.array(z.looseObject({ id: snowflake })).max(200).default([]),
  attachments: z
    .array(z.looseObject({ id: snowflake, filename: z.string().max(1_024).optional(), content_type: z.string().max(200).optional() }))
    .max(50)
    .default([]),
  // The message this one replies to (null when it was deleted).
  referenced_message: z.looseObject({ author: z.looseObject({ id: snowflake }).optional() }).nullable().optional(),
});
export type DiscordMessageCreate = z.infer<typeof discordMessageCreate>;
