// zod schemas for what Meta posts to a WhatsApp Cloud API webhook
// (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components) and what the
// Graph API answers to a send, the fields the adapter (workers/channels/whatsapp*.ts) reads, each
// bounded. Unknown fields pass (looseObject): Meta adds fields without notice.
import { z } from "zod";

// A WhatsApp user id (wa_id, `from`, `recipient_id`) is the phone number in digits.
export const waId = z.string().regex(/^\d{1,32}$/, "a WhatsApp id (digits)");

// A message id ("wamid." and base64): the dedupe key and the send's receipt. Bounded, and a
// charset safe in a session's inbox key.
export const wamid = z.string().regex(/^[A-Za-z0-9._=+/:-]{1,256}$/, "a WhatsApp message id");

// What one delivery may carry in all: Meta batches up to about a thousand updates, but a
// delivery for one number holds a few; each message becomes a session call, so they are bounded
// like LINE's events (the body itself is bounded to 1 MiB by the webhook route).
export const WHATSAPP_MAX_ENTRIES = 50;
export const WHATSAPP_MAX_CHANGES = 50;
export const WHATSAPP_MAX_MESSAGES = 100;
export const WHATSAPP_MAX_STATUSES = 500;

const mediaId = z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, "a media id");
const shortText = z.string().max(1_024);

// One media object (image, audio, video, document, sticker): its id names it at Meta.
const media = z.looseObject({
  id: mediaId,
  mime_type: z.string().max(256).optional(),
  caption: z.string().max(4_096).optional(),
  filename: z.string().max(1_024).optional(),
});

// A user's message (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components#messages-object).
export const whatsappMessage = z.looseObject({
  from: waId,
  id: wamid,
  timestamp: z.string().regex(/^\d{1,12}$/).optional(),
  type: z.string().min(1).max(32),
  // A user may send up to 65,536 characters.
  text: z.looseObject({ body: z.string().max(65_536) }).optional(),
  interactive: z
    .looseObject({
      type: z.string().max(32),
      button_reply: z.looseObject({ id: z.string().max(256), title: shortText }).optional(),
      list_reply: z.looseObject({ id: z.string().max(256), title: shortText, description: shortText.optional() }).optional(),
    })
    .optional(),
  // A template's quick-reply button.
  button: z.looseObject({ text: shortText.optional(), payload: z.string().max(1_024).optional() }).optional(),
  image: media.optional(),
  audio: media.optional(),
  video: media.optional(),
  document: media.optional(),
  sticker: media.optional(),
  location: z
    .looseObject({
      latitude: z.number().optional(),
      longitude: z.number().optional(),
      name: shortText.optional(),
      address: shortText.optional(),
    })
    .optional(),
  context: z.looseObject({ from: z.string().max(32).optional(), id: z.string().max(256).optional() }).optional(),
});
export type WhatsappMessage = z.infer<typeof whatsappMessage>;

// An error as a status or the Graph API names it.
export const whatsappError = z.looseObject({
  code: z.number().int(),
  title: z.string().max(1_000).optional(),
  message: z.string().max(1_000).optional(),
  error_data: z.looseObject({ details: z.string().max(1_000).optional() }).optional(),
});
export type WhatsappError = z.infer<typeof whatsappError>;

// A status of a message this number sent: sent, delivered, read, failed (and "deleted", "warning").
export const whatsappStatus = z.looseObject({
  id: wamid,
  status: z.string().min(1).max(32),
  recipient_id: waId,
  timestamp: z.string().regex(/^\d{1,12}$/).optional(),
  errors: z.array(whatsappError).max(20).optional(),
});
export type WhatsappStatus = z.infer<typeof whatsappStatus>;

export const whatsappValue = z.looseObject({
  messaging_product: z.string().max(32).optional(),
  metadata: z.looseObject({ phone_number_id: z.string().regex(/^\d{1,32}$/), display_phone_number: z.string().max(64).optional() }),
  contacts: z.array(z.looseObject({ wa_id: waId, profile: z.looseObject({ name: z.string().max(256).optional() }).optional() })).max(WHATSAPP_MAX_MESSAGES).optional(),
  // Each message and status is checked when it is read (whatsappMessage, whatsappStatus).
  messages: z.array(z.looseObject({ type: z.string().max(32) })).max(WHATSAPP_MAX_MESSAGES).optional(),
  statuses: z.array(z.looseObject({ status: z.string().max(32) })).max(WHATSAPP_MAX_STATUSES).optional(),
});
export type WhatsappValue = z.infer<typeof whatsappValue>;

// The delivery: object "whatsapp_business_account", entry[] per business account, changes[] per
// subscribed field. Only the "messages" field's changes are read; their value is parsed then.
export const whatsappWebhookBody = z.looseObject({
  object: z.literal("whatsapp_business_account"),
  entry: z
    .array(
      z.looseObject({
        id: z.string().max(64).optional(),
        changes: z.array(z.looseObject({ field: z.string().max(64), value: z.unknown() })).max(WHATSAPP_MAX_CHANGES),
      }),
    )
    .max(WHATSAPP_MAX_ENTRIES),
});

// What POST /{phone_number_id}/messages answers on success.
export const whatsappSentAnswer = z.looseObject({
  messages: z.array(z.looseObject({ id: z.string().max(256) })).max(10),
});

// The Graph API's error answer: {error: {message, type, code, error_subcode, error_data, fbtrace_id}}.
export const whatsappErrorAnswer = z.looseObject({
  error: z.looseObject({
    message: z.string().max(2_000).optional(),
    type: z.string().max(200).optional(),
    code: z.number().int().optional(),
    error_subcode: z.number().int().optional(),
    error_data: z.looseObject({ details: z.string().max(2_000).optional() }).optional(),
    fbtrace_id: z.string().max(200).optional(),
  }),
});
