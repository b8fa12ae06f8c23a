// The WhatsApp driver for the channels e2e and benchmark (../channel-drivers.ts): a Cloud API
// number whose access token and app secret are Worker secrets (WHATSAPP_*), text messages in a
// Graph webhook body (entry[].changes[].value.messages[]) signed like Meta signs them
// (X-Hub-Signature-256: "sha256=" + hex HMAC-SHA256 of the raw body with the app secret,
// node:crypto here, independently of workers/channels/whatsapp.ts), replies read from the fake
// Cloud API's records of POST /{phone-number-id}/messages (test/fakes/whatsapp.ts). Every chat is
// inside its 24-hour window (the user just wrote), so each reply is a free-form text message.
import { createHmac } from "node:crypto";
import type { WhatsappCalls, WhatsappSentMessage } from "../../fakes/whatsapp.ts";
import type { ChannelDriver, DriverContext } from "../channel-drivers.ts";

// Worker secrets (.dev.vars) the account references; WhatsApp's references carry the WHATSAPP_ prefix.
export const WHATSAPP_ACCESS_TOKEN = "EAAchannelsstackwhatsapptoken0123456789";
export const WHATSAPP_TOKEN_REF = "WHATSAPP_STACK_TOKEN";
export const WHATSAPP_APP_SECRET = "channels-stack-whatsapp-app-secret-0123";
export const WHATSAPP_SECRET_REF = "WHATSAPP_STACK_APP_SECRET";
const PHONE_NUMBER_ID = "106540352242922";

// The user's wa_id (digits) for chat number `chat`.
const waId = (chat: number) => `49${String(chat).padStart(10, "0")}`;

export function hubSignature(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

// One text message from chat `chat` as Meta delivers it; message `seq` has its own wamid.
export function whatsappText(seq: number, chat: number, text: string) {
  return {
    object: "whatsapp_business_account",
    entry: [
      {
        id: "100000000000001",
        changes: [
          {
            field: "messages",
            value: {
              messaging_product: "whatsapp",
              metadata: { display_phone_number: "15550001111", phone_number_id: PHONE_NUMBER_ID },
              contacts: [{ profile: { name: "U" }, wa_id: waId(chat) }],
              messages: [{ from: waId(chat), id: `wamid.stack${seq}`, timestamp: String(Math.floor(Date.now() / 1000)), type: "text", text: { body: text } }],
            },
          },
        ],
      },
    ],
  };
}

export interface WhatsappDriver extends ChannelDriver {
  // The next `times` sends are executed at the fake and left unanswered (0 ends a hold).
  holdSends(times: number): Promise<void>;
  calls(): Promise<WhatsappCalls>;
}

// The account is at most once (in_doubt "drop"): a send whose outcome the gateway does not know
// is a dead letter, never a second message (docs/channels.md, "In-doubt sends").
export async function whatsappDriver(ctx: DriverContext, fakeUrl: string): Promise<WhatsappDriver> {
  const account = await ctx.admin("POST", "/channel-accounts", {
    tenant_id: ctx.tenant,
    channel: "whatsapp",
    name: "wa",
    api_base_url: fakeUrl,
    token_ref: WHATSAPP_TOKEN_REF,
    signing_secret_ref: WHATSAPP_SECRET_REF,
    whatsapp: { phone_number_id: PHONE_NUMBER_ID },
    in_doubt: "drop",
    limits: ctx.limits,
  });
  const control = (action: string) => `${fakeUrl}/control/${encodeURIComponent(WHATSAPP_ACCESS_TOKEN)}/${action}`;
  // The fake signs the status callbacks it would post with the app secret.
  const configured = await fetch(control("config"), { method: "POST", body: JSON.stringify({ app_secret: WHATSAPP_APP_SECRET }) });
  if (!configured.ok) throw new Error(`fake whatsapp: config answered ${configured.status}`);
  return {
    platform: "whatsapp",
    accountId: account.id,
    chatKey: waId,
    delivery(chat, seq, text) {
      const body = JSON.stringify(whatsappText(seq, chat, text));
      return {
        path: `/webhooks/whatsapp/${account.id}`,
        body,
        // Meta signs the body only; a retried delivery carries the same signature.
        headers: () => ({ "content-type": "application/json", "x-hub-signature-256": hubSignature(WHATSAPP_APP_SECRET, body) }),
      };
    },
    async sent() {
      const all = (await (await fetch(control("sent"))).json()) as WhatsappSentMessage[];
      return all.map((m) => ({ chat: m.to, id: m.id, text: m.text ?? "", at: m.at }));
    },
    holdSends: async (times) => {
      const res = await fetch(control("fail"), { method: "POST", body: JSON.stringify({ kind: "hold", times }) });
      if (!res.ok) throw new Error(`fake whatsapp: fail answered ${res.status}`);
    },
    calls: async () => (await (await fetch(control("calls"))).json()) as WhatsappCalls,
    sessionKey: (chat) => `${ctx.tenant}/${ctx.agentId}/whatsapp/${account.id}/dm:${waId(chat)}`,
    render: (text) => text,
  };
}
