// Per-platform account settings that are neither secrets nor common to every platform: what the
// admin body takes under the platform's own key ({"channel": "whatsapp", "whatsapp": {...}}), D1
// keeps as JSON in channel_accounts.settings, and the adapter reads from AccountConfig. Public
// values only: credentials stay vault:<name> or Worker-secret references (token_ref,
// signing_secret_ref).
import { z } from "zod";

// WhatsApp Cloud API (https://developers.facebook.com/docs/whatsapp/cloud-api).
export const whatsappSettings = z.strictObject({
  // The business phone number's id (not the number itself): sends go to POST /{id}/messages,
  // and a delivery for any other number of the same app is not this account's.
  phone_number_id: z.string().regex(/^\d{1,32}$/, "the phone number id (digits) from WhatsApp Manager"),
  // An approved message template sent instead of a free-form reply when the chat's 24-hour
  // customer-service window is closed (WhatsApp refuses free-form messages then). Absent: such a
  // reply is dead-lettered with the reason.
  template: z
    .strictObject({
      name: z.string().regex(/^[a-z0-9_]{1,512}$/, "a template name: a-z, 0-9 and _"),
      // The template's language code, e.g. en_US, pt_BR, de.
      language: z.string().regex(/^[a-z]{2,3}(?:_[A-Za-z]{2,4})?$/, "a language code such as en_US"),
      // true: the reply's text (cut to 1,024 characters) fills the template body's {{1}}.
      text_parameter: z.boolean().default(false),
    })
    .optional(),
});
export type WhatsappSettings = z.infer<typeof whatsappSettings>;

// Feishu / Lark Open Platform (https://open.feishu.cn/document, https://open.larksuite.com/document).
export const feishuHosts = { feishu: "https://open.feishu.cn", lark: "https://open.larksuite.com" } as const;
export const feishuSettings = z.strictObject({
  // The custom app's App ID (cli_...); its App Secret is token_ref.
  app_id: z.string().regex(/^cli_[A-Za-z0-9]{1,64}$/, "the App ID (cli_...)"),
  // Which platform the app lives on: Feishu (China) or Lark (international); picks the API host
  // unless api_base_url names another.
  host: z.enum(["feishu", "lark"]).default("feishu"),
  // The bot's open_id (ou_...), to tell a group message that mentions the bot from one that
  // mentions someone else.
  bot_open_id: z.string().regex(/^ou_[A-Za-z0-9]{1,64}$/, "the bot's open_id (ou_...)").optional(),
});
export type FeishuSettings = z.infer<typeof feishuSettings>;

// The settings of a platform that has some, as D1 keeps them (JSON), parsed again on read so a
// row written some other way cannot hand an adapter a shape it does not expect.
export interface PlatformSettings {
  whatsapp?: WhatsappSettings;
  feishu?: FeishuSettings;
}
export function platformSettingsOf(channel: string, json: string | null): PlatformSettings {
  if (json === null) return {};
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return {};
  }
  if (channel === "whatsapp") {
    const parsed = whatsappSettings.safeParse(value);
    return parsed.success ? { whatsapp: parsed.data } : {};
  }
  if (channel === "feishu") {
    const parsed = feishuSettings.safeParse(value);
    return parsed.success ? { feishu: parsed.data } : {};
  }
  return {};
}
