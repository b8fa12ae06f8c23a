// The channel adapters by name. Typed by the channel list in schema/channels.ts, so a channel the
// admin API accepts always has an adapter.
import type { Channel } from "../../schema/channels.ts";
import { hook } from "./hook.ts";
import { telegram } from "./telegram.ts";
import type { ChannelAdapter } from "./types.ts";
import { webchat } from "./webchat.ts";

export const channelAdapters: Readonly<Record<Channel, ChannelAdapter>> = { telegram, webchat, hook };
