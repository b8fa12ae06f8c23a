// vitest globalSetup for the Workers-pool tests: a real local HTTP server stands in for the
// OpenAI-compatible upstream; its URL reaches the Worker as the FAKE_UPSTREAM_URL binding.
import type { TestProject } from "vitest/node";
import { startFakeDiscord } from "./discord.ts";
import { startFakeDiscordGateway } from "./discord-gateway.ts";
import { startFakeFeishu } from "./feishu.ts";
import { startFakeLine } from "./line.ts";
import { startFakeUpstream } from "./openai-upstream.ts";
import { startFakeSlack } from "./slack.ts";
import { startFakeTelegram } from "./telegram.ts";
import { startFakeWhatsapp } from "./whatsapp.ts";
import { startTarpit } from "./tarpit.ts";

export default async function setup(project: TestProject) {
  const fake = await startFakeUpstream();
  project.provide("fakeUpstreamUrl", fake.url);
  // The fake Telegram Bot API (test/channels/): its URL is the accounts' api_base_url.
  const telegram = await startFakeTelegram();
  project.provide("fakeTelegramUrl", telegram.url);
  // The fake Slack Web API (test/channels/slack*.test.ts): the Slack accounts' api_base_url.
  const slack = await startFakeSlack();
  project.provide("fakeSlackUrl", slack.url);
  // The fake Discord Gateway (test/channels/discord-gateway*.test.ts): its sockets say HELLO with a
  // 1 s heartbeat (Discord's is 41 s), so a silent connection is noticed within a test.
  const discordGateway = await startFakeDiscordGateway(0, { heartbeatInterval: 1_000 });
  project.provide("fakeDiscordGatewayUrl", discordGateway.url);
  // The fake Discord REST API (test/channels/discord*.test.ts): the Discord accounts' api_base_url (+ /api/v10).
  const discord = await startFakeDiscord();
  project.provide("fakeDiscordUrl", discord.url);
  // The fake LINE Messaging API (test/channels/line*.test.ts): the LINE accounts' api_base_url.
  const line = await startFakeLine();
  project.provide("fakeLineUrl", line.url);
  // The fake WhatsApp Cloud API (test/channels/whatsapp*.test.ts): the WhatsApp accounts' api_base_url.
  const whatsapp = await startFakeWhatsapp();
  project.provide("fakeWhatsappUrl", whatsapp.url);
  // The fake Feishu/Lark Open API (test/channels/feishu*.test.ts): the Feishu accounts' api_base_url.
  const feishu = await startFakeFeishu();
  project.provide("fakeFeishuUrl", feishu.url);
  // A server that accepts requests and never answers (test/scheduler/: slow actions).
  const tarpit = await startTarpit();
  project.provide("fakeTarpitUrl", tarpit.url);
  return async () => {
    await tarpit.close();
    await fake.close();
    await telegram.close();
    await slack.close();
    await discord.close();
    await line.close();
    await feishu.close();
    await whatsapp.close();
    await discordGateway.close();
  };
}

declare module "vitest" {
  interface ProvidedContext {
    fakeUpstreamUrl: string;
    fakeTelegramUrl: string;
    fakeSlackUrl: string;
    fakeTarpitUrl: string;
    fakeDiscordUrl: string;
    fakeDiscordGatewayUrl: string;
    fakeLineUrl: string;
    fakeFeishuUrl: string;
    fakeWhatsappUrl: string;
  }
}
