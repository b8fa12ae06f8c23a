// Bindings the Workers-pool tests see: the Worker's own plus what vitest.config.ts adds.
import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../../workers/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      FAKE_UPSTREAM_URL: string;
      PROVIDER_FAKE_KEY: string;
      FAKE_TELEGRAM_URL: string;
      FAKE_SLACK_URL: string;
      FAKE_TARPIT_URL: string;
      FAKE_DISCORD_URL: string;
      FAKE_DISCORD_GATEWAY_URL: string;
      FAKE_LINE_URL: string;
      FAKE_FEISHU_URL: string;
      FAKE_WHATSAPP_URL: string;
      TELEGRAM_TEST_BOT: string;
      TELEGRAM_STORM_BOT: string;
    }
  }
}
