// DiscordGateway: one per Discord bot account (named by the channel account id), holding that
// bot's one Gateway WebSocket for the whole deployment: two connections would get every event
// twice and Discord limits how often a bot may identify. The object keeps the connection's
// durable state (desired running/stopped, session id, last accepted sequence, counters) in its
// storage and the order of events (one chain); the protocol and what to do next live in
// workers/channels/discord-gateway/. Its alarm is the watchdog: after an eviction (no socket in
// memory) it reconnects and resumes.
import { DurableObject } from "cloudflare:workers";
import { GatewayRunner, type GatewayView } from "../workers/channels/discord-gateway/runner.ts";
import type { Env } from "../workers/env.ts";

export class DiscordGateway extends DurableObject<Env> {
  private readonly runner: GatewayRunner;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.runner = new GatewayRunner(ctx.storage, env);
    void ctx.blockConcurrencyWhile(() => this.runner.load());
  }

  // Connects (or keeps the connection it has): idempotent.
  start(accountId: string): Promise<GatewayView> {
    return this.runner.start(accountId);
  }

  // Closes the socket (ending the Discord session) and stays stopped until the next start.
  stop(): Promise<GatewayView> {
    return this.runner.stop();
  }

  state(): GatewayView {
    return this.runner.view();
  }

  async alarm(): Promise<void> {
    await this.runner.alarm();
  }
}
