// The channel adapters by name. Typed by the channel list in schema/channels.ts, so a channel the
// admin API accepts always has an adapter.
import type { Channel } from "../../schema/channels.ts";
import { splitReply } from "../agents/turn.ts";
import { discord } from "./discord.ts";
import { feishu } from "./feishu.ts";
import { hook } from "./hook.ts";
import { line } from "./line.ts";
import { slack } from "./slack.ts";
import { telegram } from "./telegram.ts";
import type { ChannelAdapter } from "./types.ts";
import { webchat } from "./webchat.ts";
import { whatsapp } from "./whatsapp.ts";

export const channelAdapters: Readonly<Record<Channel, ChannelAdapter>> = { telegram, slack, discord, line, whatsapp, feishu, webchat, hook };

// A reply split into the messages its channel takes: the adapter's own splitter when it has one
// (Slack keeps code blocks and links whole), else splitReply at maxTextLength.
export function splitForChannel(channel: Channel, text: string): string[] {
  const adapter = channelAdapters[channel];
  return adapter.split ? adapter.split(text) : splitReply(text, adapter.maxTextLength);
}
