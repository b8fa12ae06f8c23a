// Feishu / Lark adapter: the Open Platform's event webhook and the IM message API
// (https://open.feishu.cn/document/, https://open.larksuite.com/document/; one account per
// custom app, on Feishu's host or Lark's: AccountConfig.feishu.host).
//   verify  X-Lark-Signature over timestamp + nonce + Encrypt Key + raw body, constant time, a
//           5-minute replay window; the Request URL check comes unsigned and passes only when it
//           decrypts with the Encrypt Key to a url_verification (./feishu-crypto.ts)
//   open    the {"encrypt"} body decrypted (AES-256-CBC, key SHA-256(Encrypt Key)); malformed: 400
//   parse   url_verification is the handshake ({challenge}); im.message.receive_v1 of the
//           account's App ID only, deduped by event_id; groups only when the bot is mentioned
//           (./feishu-events.ts)
//   send    im/v1/messages (a DM) or .../reply (a group or thread message) with a uuid derived
//           from the intent, so Feishu itself makes a resend idempotent for an hour; the
//           tenant_access_token comes from the account's FeishuTokenCache (./feishu-api.ts,
//           ./feishu-token.ts)
//   edit    a streamed reply's edits (stream_replies): PUT im/v1/messages/{message_id} with the
//           text (./feishu-api.ts). Feishu allows 20 edits per message, so maxEdits holds a
//           stream to 19 intermediate edits and the final one; past them the message waits for
//           the final edit with the whole text. Text, not a card PATCH: replies stay plain text
import { feishuOpen, feishuVerify } from "./feishu-crypto.ts";
import { feishuHandshake, feishuMessage } from "./feishu-events.ts";
import { FEISHU_MAX_TEXT, feishuEdit, feishuSend } from "./feishu-api.ts";
import type { ChannelAdapter } from "./types.ts";

export const feishu: ChannelAdapter = {
  channel: "feishu",
  maxTextLength: FEISHU_MAX_TEXT,
  // Feishu allows 5 messages a second to one user or one group (a group's 5 shared by its bots).
  minSendIntervalMs: 250,
  // The send API's app-wide limits: 50 a second and 1,000 a minute. The sustained rate is held
  // under the minute's (1,000/60 = 16.7/s) with a burst well under the second's; an operator
  // changes it per account (limits.account_sends_per_s / account_send_burst).
  accountSendRate: { perSecond: 15, burst: 20 },
  signsBody: true,
  // Feishu's edit API shares the send API's app-wide limits and a chat's 5 a second; an edit
  // every 1.5 s stays far under both, and the 19 intermediate edits then cover about 30 s of a
  // reply (a longer one shows its text so far until the final edit).
  editIntervalMs: 1_500,
  maxEdits: 20,

  verify(delivery, account, env) {
    return feishuVerify(delivery, account, env);
  },

  open(delivery, account, env) {
    return feishuOpen(delivery, account, env);
  },

  handshake(delivery) {
    return feishuHandshake(delivery);
  },

  parse(delivery, account, now) {
    return feishuMessage(delivery, account, now);
  },

  send(intent, account, ctx) {
    return feishuSend(ctx.env, account, intent);
  },

  edit(intent, account, ctx) {
    return feishuEdit(ctx.env, account, intent);
  },
};
