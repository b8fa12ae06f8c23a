// Helpers for the streamed-reply tests (streaming*.test.ts): Telegram and Slack accounts with
// stream_replies on, bound to an agent whose model is a long, slow stream of the fake upstream
// (its scenario's stream_words), what the fakes recorded, and a crash of a session object.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { SlackUpdate } from "../fakes/slack.ts";
import { admin, expectStatus, makeTenant } from "../gateway/helpers.ts";
import { exportSession, scenarioModel, waitFor, type AgentOptions, type TelegramSetup } from "./helpers.ts";
import { setupSlack, type SlackSetup } from "./slack-helpers.ts";

export interface StreamScenario {
  stream_words: number;
  stream_every_ms?: number;
  stream_word?: string;
  stream_fail_after?: number;
}

// What the fake model answers to `text` under the scenario.
export function answerOf(text: string, scenario: StreamScenario): string {
  const words = Array.from({ length: scenario.stream_words }, (_, i) => ` ${scenario.stream_word ?? "word"}${i + 1}`);
  return `echo: ${text}${words.join("")}`;
}

interface Options {
  scenario: StreamScenario;
  stream?: boolean;
  agent?: AgentOptions;
  limits?: Record<string, number>;
}

async function agentWithModel(tenant: Awaited<ReturnType<typeof makeTenant>>, o: Options): Promise<string> {
  const { model } = await scenarioModel(tenant, o.scenario as unknown as Record<string, unknown>);
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "streamer", system_prompt: "Be brief.", model, ...o.agent }),
    201,
  );
  return agent.body.id as string;
}

export async function streamingTelegram(o: Options): Promise<TelegramSetup> {
  const tenant = await makeTenant();
  // A bot token of this test alone: the fake records per token.
  const token = `777:${crypto.randomUUID()}`;
  expectStatus(await admin(tenant.owner, "PUT", "/secrets/bot", { tenant_id: tenant.tenantId, value: token }), 201);
  const agentId = await agentWithModel(tenant, o);
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", {
      tenant_id: tenant.tenantId,
      channel: "telegram",
      name: "bot",
      api_base_url: env.FAKE_TELEGRAM_URL,
      token_ref: "vault:bot",
      bot_username: "edgeclaw_bot",
      send_interval_ms: 0,
      stream_replies: o.stream ?? true,
      ...(o.limits ? { limits: o.limits } : {}),
    }),
    201,
  );
  expect(account.body.stream_replies).toBe(o.stream ?? true);
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agentId }), 201);
  return { tenant, agentId, accountId: account.body.id, secret: account.body.webhook_secret, token };
}

export function streamingSlack(o: Options): Promise<SlackSetup> {
  return setupSlack({ model: (tenant) => scenarioModel(tenant, o.scenario as unknown as Record<string, unknown>).then((m) => m.model), stream: o.stream ?? true, limits: o.limits });
}

async function getJson<T>(path: string): Promise<T> {
  return (await (await fetch(path)).json()) as T;
}

export function telegramUnmodified(token: string): Promise<{ chat_id: string; message_id: number; at: number }[]> {
  return getJson(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/unmodified`);
}

export function telegramRejected(token: string): Promise<{ chat_id: string; at: number; cause: string }[]> {
  return getJson(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/rejected`);
}

export async function slackUpdates(token: string, channel: string): Promise<SlackUpdate[]> {
  return (await getJson<SlackUpdate[]>(`${env.FAKE_SLACK_URL}/control/${encodeURIComponent(token)}/updates`)).filter((u) => u.channel === channel);
}

export function slackRejected(token: string): Promise<{ method: string; at: number }[]> {
  return getJson(`${env.FAKE_SLACK_URL}/control/${encodeURIComponent(token)}/rejected`);
}

// Gaps between consecutive arrival times at the fake.
export function gaps(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number));
}

// The session's export once every outbox row of it is sent (or the time runs out).
export function settled(owner: string, key: string, rows = 1, timeoutMs = 40_000): Promise<any> {
  return waitFor(
    () => exportSession(owner, key),
    (e) => e.outbox.length >= rows && e.outbox.every((o: any) => o.state === "sent") && e.inbox.every((m: any) => m.state !== "queued"),
    timeoutMs,
    200,
  );
}

// A crash of the session object: its in-memory state and everything in flight (the model call,
// the stream's pending edit) are gone; what it wrote stays. Answers a fresh stub (the one that
// saw the abort is broken for good).
export async function crashSession(key: string): Promise<DurableObjectStub> {
  const stub = env.SESSIONS.get(env.SESSIONS.idFromName(key));
  try {
    await runInDurableObject(stub, (_instance, state) => {
      state.abort("simulated crash");
    });
  } catch {
    // The abort ends this call too.
  }
  return env.SESSIONS.get(env.SESSIONS.idFromName(key));
}
