// zod schemas for what the LINE Platform posts to the webhook
// (https://developers.line.biz/en/reference/messaging-api/#webhooks) and what the Messaging API
// answers, the fields the adapter (workers/channels/line.ts) reads, each bounded. Unknown fields
// pass (looseObject): LINE adds fields to events without notice.
import { z } from "zod";

// User (U...), group (C...) and room (R...) ids are a letter and 32 hex digits; bounded a little
// wider so a future format is not refused, and to a charset safe in a session key.
export const lineId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a LINE id");

// The events one delivery may carry. LINE sends one event per request in practice but may batch
// several; each becomes its own message. Bounded so one delivery cannot make the Worker run a
// thousand session calls (the body is also bounded to 1 MiB by the webhook route).
export const LINE_MAX_EVENTS = 100;

// LINE's reply tokens are 32 hex digits: a charset that can sit in a stored intent as is.
export const lineReplyToken = z.string().regex(/^[A-Za-z0-9_-]{1,256}$/, "a LINE reply token");

// The webhook body: `destination` is the bot's own user id; `events` is empty for the console's
// "Verify" button.
export const lineWebhookBody = z.looseObject({
  destination: lineId,
  events: z.array(z.looseObject({ type: z.string().min(1).max(64) })).max(LINE_MAX_EVENTS),
});

const lineSource = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("user"), userId: lineId }),
  z.looseObject({ type: z.literal("group"), groupId: lineId, userId: lineId.optional() }),
  z.looseObject({ type: z.literal("room"), roomId: lineId, userId: lineId.optional() }),
]);
export type LineSource = z.infer<typeof lineSource>;

// A mention in a text message: `index`/`length` locate "@name" in the text (UTF-16 units);
// `isSelf` is true when the mentioned user is this bot; type "all" is @All.
const lineMentionee = z.looseObject({
  index: z.number().int().min(0).max(100_000),
  length: z.number().int().min(0).max(100_000),
  type: z.string().max(16).optional(),
  userId: lineId.optional(),
  isSelf: z.boolean().optional(),
});

export const lineMessage = z.looseObject({
  id: z.string().regex(/^\d{1,32}$/, "a LINE message id"),
  type: z.string().min(1).max(32),
  // A user's text message is at most 5,000 characters; room for emoji substitutions.
  text: z.string().max(10_000).optional(),
  mention: z.looseObject({ mentionees: z.array(lineMentionee).max(100) }).optional(),
  // file
  fileName: z.string().max(1_000).optional(),
  // location
  title: z.string().max(1_000).nullable().optional(),
  address: z.string().max(1_000).nullable().optional(),
  latitude: z.number().optional(),
  longitude: z.number().optional(),
  // sticker
  packageId: z.string().max(64).optional(),
  stickerId: z.string().max(64).optional(),
});
export type LineMessage = z.infer<typeof lineMessage>;

// A message event (https://developers.line.biz/en/reference/messaging-api/#message-event).
// webhookEventId is a ULID, unique per event and repeated by a redelivery; mode "standby" means
// another channel answers this chat (module channels), so the bot stays quiet.
export const lineMessageEvent = z.looseObject({
  type: z.literal("message"),
  mode: z.string().max(16).optional(),
  timestamp: z.number().int().min(0),
  source: lineSource,
  webhookEventId: z.string().regex(/^[A-Za-z0-9]{1,64}$/, "a webhook event id").optional(),
  deliveryContext: z.looseObject({ isRedelivery: z.boolean() }).optional(),
  replyToken: lineReplyToken.optional(),
  message: lineMessage,
});
export type LineMessageEvent = z.infer<typeof lineMessageEvent>;

// What reply and push answer on success (https://developers.line.biz/en/reference/messaging-api/#send-push-message-response).
export const lineSentAnswer = z.looseObject({
  sentMessages: z.array(z.looseObject({ id: z.string().max(64) })).max(5).optional(),
});

// An error answer: {message, details?: [{message, property}]}.
export const lineErrorAnswer = z.looseObject({
  message: z.string().max(10_000).optional(),
  details: z.array(z.looseObject({ message: z.string().max(1_000).optional(), property: z.string().max(200).optional() })).max(50).optional(),
});
