// vitest globalSetup for the Workers-pool tests: a real local HTTP server stands in for the
// OpenAI-compatible upstream; its URL reaches the Worker as the FAKE_UPSTREAM_URL binding.
import type { TestProject } from "vitest/node";
import { startFakeUpstream } from "./openai-upstream.ts";
import { startFakeTelegram } from "./telegram.ts";

export default async function setup(project: TestProject) {
  const fake = await startFakeUpstream();
  project.provide("fakeUpstreamUrl", fake.url);
  // The fake Telegram Bot API (test/channels/): its URL is the accounts' api_base_url.
  const telegram = await startFakeTelegram();
  project.provide("fakeTelegramUrl", telegram.url);
  return async () => {
    await fake.close();
    await telegram.close();
  };
}

declare module "vitest" {
  interface ProvidedContext {
    fakeUpstreamUrl: string;
    fakeTelegramUrl: string;
  }
}
