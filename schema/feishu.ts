// zod schemas for what the Feishu / Lark Open Platform posts to the webhook
// (https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/request-url-configuration-case,
// https://open.feishu.cn/document/server-docs/im-v1/message/events/receive) and what its Open API
// answers, the fields the adapter (workers/channels/feishu*.ts) reads, each bounded. Unknown
// fields pass (looseObject): Feishu adds fields to events without notice.
import { z } from "zod";

// The delivery as it arrives: with an Encrypt Key set (EdgeClaw requires one) Feishu posts
// only {"encrypt": base64(iv + AES-256-CBC ciphertext)}. The webhook route bounds the body to
// 1 MiB; this bounds the string again so a decoder never sees more.
export const feishuEncryptedBody = z.strictObject({
  encrypt: z.string().min(24).max(1_400_000),
});

// Feishu's ids: open ids (ou_), chat ids (oc_), message ids (om_), app ids (cli_), event ids
// (32 hex digits) and thread ids (omt_): bounded to a charset safe in a session key.
const feishuId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "a Feishu id");

// The Request URL check (decrypted): answered with {challenge}; `token` is the app's
// Verification Token, which EdgeClaw does not keep (the Encrypt Key authenticates instead).
export const feishuUrlVerification = z.looseObject({
  type: z.literal("url_verification"),
  challenge: z.string().min(1).max(512),
  token: z.string().max(256).optional(),
});

// A v2 event (schema "2.0") as decrypted: the header names the event and the app it is for.
export const feishuEventEnvelope = z.looseObject({
  schema: z.literal("2.0"),
  header: z.looseObject({
    event_id: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, "an event id"),
    event_type: z.string().min(1).max(128),
    create_time: z.string().max(32).optional(),
    token: z.string().max(256).optional(),
    app_id: z.string().max(128),
    tenant_key: z.string().max(128).optional(),
  }),
  event: z.looseObject({}),
});

const feishuUserIds = z.looseObject({
  open_id: z.string().max(128).optional(),
  user_id: z.string().max(128).nullable().optional(),
  union_id: z.string().max(128).optional(),
});

// im.message.receive_v1's event. content is a JSON string whose shape depends on message_type.
export const feishuMessageEvent = z.looseObject({
  sender: z.looseObject({
    sender_id: feishuUserIds.optional(),
    // "user" for a person; "app" for a bot (never answered).
    sender_type: z.string().max(32),
    tenant_key: z.string().max(128).optional(),
  }),
  message: z.looseObject({
    message_id: feishuId,
    root_id: z.string().max(128).optional(),
    parent_id: z.string().max(128).optional(),
    thread_id: feishuId.optional(),
    create_time: z.string().max(32).optional(),
    chat_id: feishuId,
    chat_type: z.string().max(32),
    message_type: z.string().min(1).max(32),
    // A text message holds at most 150 KB of request body at Feishu's side.
    content: z.string().max(200_000),
    mentions: z
      .array(
        z.looseObject({
          // "@_user_1": how the mention appears in the text.
          key: z.string().regex(/^@_[A-Za-z0-9_]{1,32}$/, "a mention key"),
          id: feishuUserIds,
          name: z.string().max(256).optional(),
        }),
      )
      .max(100)
      .optional(),
  }),
});
export type FeishuMessageEvent = z.infer<typeof feishuMessageEvent>;

// message.content by message_type (only the fields read).
export const feishuTextContent = z.looseObject({ text: z.string().max(200_000) });
const postElement = z.looseObject({
  tag: z.string().max(32),
  text: z.string().max(200_000).optional(),
  href: z.string().max(4_096).optional(),
  user_id: z.string().max(128).optional(),
  user_name: z.string().max(256).optional(),
  image_key: z.string().max(256).optional(),
});
// The counts only guard the arrays themselves: message.content (200,000 characters, above)
// already bounds the whole post, and a real post of short styled runs can pass 1,000 elements.
export const feishuPostContent = z.looseObject({
  title: z.string().max(1_000).optional(),
  content: z.array(z.array(postElement).max(20_000)).max(20_000),
});
export const feishuFileContent = z.looseObject({
  image_key: z.string().max(256).optional(),
  file_key: z.string().max(256).optional(),
  file_name: z.string().max(1_000).optional(),
});

// Every Open API answer: {code, msg, data?}; code 0 is success whatever the HTTP status.
export const feishuApiAnswer = z.looseObject({
  code: z.number().int(),
  msg: z.string().max(10_000).optional(),
  data: z.looseObject({ message_id: z.string().max(128).optional() }).nullable().optional(),
});

// POST /open-apis/auth/v3/tenant_access_token/internal: {code, msg, tenant_access_token, expire (s)}.
export const feishuTokenAnswer = z.looseObject({
  code: z.number().int(),
  msg: z.string().max(10_000).optional(),
  tenant_access_token: z.string().regex(/^[A-Za-z0-9._-]{1,512}$/, "a tenant access token").optional(),
  expire: z.number().int().min(0).max(1_000_000).optional(),
});
