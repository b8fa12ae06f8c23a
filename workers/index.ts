// Worker entry: the Hono app, and every Durable Object class (wrangler finds them here).
import { dailyMaintenance } from "./admin/maintenance.ts";
import { app } from "./app.ts";
import type { Env } from "./env.ts";
import { consumeUsage } from "./usage/consumer.ts";

export { ChannelAccountLedger } from "../durable-objects/account-ledger.ts";
export { SpendBudget } from "../durable-objects/budget.ts";
export { CircuitBreaker } from "../durable-objects/circuit-breaker.ts";
export { DiscordGateway } from "../durable-objects/discord-gateway.ts";
export { FeishuTokenCache } from "../durable-objects/feishu-token.ts";
export { RateLimiter } from "../durable-objects/rate-limiter.ts";
export { ResponseStore } from "../durable-objects/response-store.ts";
export { SchedulerShard } from "../durable-objects/scheduler.ts";
export { SendLimiter } from "../durable-objects/send-limiter.ts";
export { ChatSession } from "../durable-objects/session.ts";

export default {
  fetch: app.fetch,
  // The daily cron (wrangler.jsonc triggers): audit retention purge, expired token revocations.
  scheduled(_controller, env, ctx) {
    ctx.waitUntil(dailyMaintenance(env));
  },
  // The usage queue (wrangler.jsonc queues): each batch of usage events into D1 in one write.
  async queue(batch, env, _ctx) {
    await consumeUsage(batch, env);
  },
} satisfies ExportedHandler<Env>;
