// WebChat: a browser talks to its session's Durable Object over a WebSocket (hibernation API).
//   verify  the visitor id is a long random token the page generated (it is the session's only
//           key, like a bearer token); the account must be a live webchat account
//   parse   a {type:"message", id, text} frame; the client's id is the dedupe key, so a frame
//           resent after a reconnect is answered once
//   send    the reply goes to every socket open on the session; with none open it is kept in
//           the history the page loads when it reconnects
import { webchatFrame, webchatPeer } from "../../schema/channels.ts";
import { parseOr400 } from "../http/validation.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { ChannelAdapter } from "./types.ts";

export const webchat: ChannelAdapter = {
  channel: "webchat",
  maxTextLength: 100_000,
  minSendIntervalMs: 0,

  async verify(delivery) {
    return webchatPeer.safeParse(delivery.peer).success;
  },

  parse(delivery, account, now) {
    const json = deliveryJson(delivery, "frame");
    const frame = parseOr400(webchatFrame, json);
    const peer = delivery.peer as string;
    return {
      tenantId: account.tenantId,
      channel: "webchat",
      accountId: account.id,
      peerId: peer,
      groupId: null,
      threadId: null,
      chatId: peer,
      messageId: frame.id,
      replyToId: null,
      text: frame.text,
      command: null,
      sender: { id: peer, name: null },
      attachments: [],
      callbackUrl: null,
      receivedAt: now,
    };
  },

  async send(intent, _account, ctx) {
    const frame = JSON.stringify({ type: "reply", id: intent.key, reply_to: intent.inReplyTo, text: intent.text });
    let delivered = 0;
    for (const ws of ctx.sockets) {
      try {
        ws.send(frame);
        delivered++;
      } catch {
        // a socket that closed meanwhile
      }
    }
    return { ok: true, receipt: delivered > 0 ? `sockets:${delivered}` : "history" };
  },
};
