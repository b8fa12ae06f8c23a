// Helpers for the channel tests: a tenant with an agent bound to a Telegram bot whose API is the
// fake in test/fakes/telegram.ts, Telegram-shaped updates, and reading what the fake received.
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { SentMessage } from "../fakes/telegram.ts";
import { admin, BASE, expectStatus, makeTenant, type TestTenant } from "../gateway/helpers.ts";

export interface TelegramSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  secret: string;
  token: string;
}

export interface AgentOptions {
  model?: string;
  history_token_budget?: number;
  dm_policy?: "open" | "allowlist" | "pairing";
  allowlist?: string[];
  merge_queued?: boolean;
  session_ttl_s?: number;
}

export async function setupTelegram(
  // ownToken: a fresh bot token in the tenant's vault, so the fake's per-bot recordings and limits
  // belong to this test alone.
  options: { agent?: AgentOptions; tokenRef?: "TELEGRAM_TEST_BOT" | "TELEGRAM_STORM_BOT"; ownToken?: boolean; sendIntervalMs?: number; limits?: Record<string, unknown>; inDoubt?: "resend" | "drop" } = {},
): Promise<TelegramSetup> {
  const tenant = await makeTenant();
  const own = options.ownToken ? `777:${crypto.randomUUID()}` : null;
  if (own) expectStatus(await admin(tenant.owner, "PUT", "/secrets/bot", { tenant_id: tenant.tenantId, value: own }), 201);
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", {
      tenant_id: tenant.tenantId,
      name: "helper",
      system_prompt: "You are a helpful assistant.",
      model: "fake-echo",
      ...options.agent,
    }),
    201,
  );
  const tokenRef = own ? "vault:bot" : (options.tokenRef ?? "TELEGRAM_TEST_BOT");
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", {
      tenant_id: tenant.tenantId,
      channel: "telegram",
      name: "bot",
      api_base_url: env.FAKE_TELEGRAM_URL,
      token_ref: tokenRef,
      bot_username: "edgeclaw_bot",
      send_interval_ms: options.sendIntervalMs ?? 0,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.inDoubt ? { in_doubt: options.inDoubt } : {}),
    }),
    201,
  );
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id }), 201);
  return { tenant, agentId: agent.body.id, accountId: account.body.id, secret: account.body.webhook_secret, token: own ?? env[options.tokenRef ?? "TELEGRAM_TEST_BOT"] };
}

// Chat ids unique across test files (they share the fake's recording per bot token).
let chatCounter = Math.floor(Math.random() * 1e9);
export function newChatId(): number {
  return ++chatCounter;
}

let updateCounter = Math.floor(Math.random() * 1e9);
export function newUpdateId(): number {
  return ++updateCounter;
}

export function dmUpdate(updateId: number, chatId: number, text: string) {
  return {
    update_id: updateId,
    message: { message_id: updateId % 1_000_000, date: 1_700_000_000, chat: { id: chatId, type: "private" }, from: { id: chatId, is_bot: false, first_name: "Ada" }, text },
  };
}

export function groupUpdate(updateId: number, groupId: number, fromId: number, text: string, extra: Record<string, unknown> = {}) {
  return {
    update_id: updateId,
    message: { message_id: updateId % 1_000_000, date: 1_700_000_000, chat: { id: groupId, type: "supergroup" }, from: { id: fromId, is_bot: false, first_name: "Bob" }, text, ...extra },
  };
}

export function deliver(accountId: string, secret: string | null, update: unknown): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (secret !== null) headers["x-telegram-bot-api-secret-token"] = secret;
  return SELF.fetch(`${BASE}/webhooks/telegram/${accountId}`, { method: "POST", headers, body: JSON.stringify(update) });
}

// The account's ledger has handed every message it took on to its session (a new chat's first
// messages wait there until then: durable-objects/account-ledger.ts). Resolves to what still waits
// (a session that failed, for the alarm).
export function handedOn(accountId: string): Promise<number> {
  return runInDurableObject(env.ACCOUNT_LEDGERS.get(env.ACCOUNT_LEDGERS.idFromName(accountId)), async (object) => {
    const ledger = object as unknown as { forwarder: { idle(): Promise<void> }; pendingCount: number };
    await ledger.forwarder.idle();
    return ledger.pendingCount;
  });
}

// How many messages wait in the account's ledger now, without waiting for the hand-on.
export function waitingInLedger(accountId: string): Promise<number> {
  return runInDurableObject(env.ACCOUNT_LEDGERS.get(env.ACCOUNT_LEDGERS.idFromName(accountId)), (object) => (object as unknown as { pendingCount: number }).pendingCount);
}

export async function sentTo(token: string, chatId: number | string): Promise<SentMessage[]> {
  const res = await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/sent`);
  const all = (await res.json()) as SentMessage[];
  return all.filter((m) => m.chat_id === String(chatId));
}

export async function failNext(token: string, kind: "429" | "500" | "stall" | "huge", times: number, retryAfter = 1): Promise<void> {
  await fetch(`${env.FAKE_TELEGRAM_URL}/control/${encodeURIComponent(token)}/fail`, {
    method: "POST",
    body: JSON.stringify({ kind, times, retry_after: retryAfter }),
  });
}

export async function waitFor<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function sessionKeyFor(s: TelegramSetup, chatId: number | string): string {
  return `${s.tenant.tenantId}/${s.agentId}/telegram/${s.accountId}/dm:${chatId}`;
}

// A hook or WebChat account of a fresh tenant, bound to one agent.
export interface ChannelSetup {
  tenant: TestTenant;
  agentId: string;
  accountId: string;
  // The hook token (hook accounts only).
  token: string;
}

export async function setupChannel(channel: "hook" | "webchat", options: { agent?: AgentOptions; limits?: Record<string, number> } = {}): Promise<ChannelSetup> {
  const tenant = await makeTenant();
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "a", system_prompt: "Be brief.", model: "fake-echo", ...options.agent }),
    201,
  );
  const account = expectStatus(
    await admin(tenant.owner, "POST", "/channel-accounts", { tenant_id: tenant.tenantId, channel, name: channel, ...(options.limits ? { limits: options.limits } : {}) }),
    201,
  );
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id, channel }), 201);
  return { tenant, agentId: agent.body.id as string, accountId: account.body.id as string, token: account.body.token as string };
}

// A new tenant whose secrets (`secrets`: vault name -> value) are in its vault, with an agent
// bound to one new channel account (`account`: the create body without tenant_id). The webhook
// platforms' setups (LINE, WhatsApp, Feishu) differ only in those two.
export async function setupVaultAccount(
  secrets: Record<string, string>,
  account: Record<string, unknown>,
  agentOptions: AgentOptions = {},
): Promise<{ tenant: TestTenant; agentId: string; account: { id: string; webhook_secret?: string } }> {
  const tenant = await makeTenant();
  for (const [name, value] of Object.entries(secrets)) expectStatus(await admin(tenant.owner, "PUT", `/secrets/${name}`, { tenant_id: tenant.tenantId, value }), 201);
  const agent = expectStatus(
    await admin(tenant.owner, "POST", "/agents", { tenant_id: tenant.tenantId, name: "helper", system_prompt: "Be brief.", model: "fake-echo", ...agentOptions }),
    201,
  );
  const created = expectStatus(await admin(tenant.owner, "POST", "/channel-accounts", { tenant_id: tenant.tenantId, ...account }), 201);
  expectStatus(await admin(tenant.owner, "POST", "/bindings", { tenant_id: tenant.tenantId, agent_id: agent.body.id }), 201);
  return { tenant, agentId: agent.body.id as string, account: created.body };
}

// A model route of the tenant that reaches a scripted scenario of the fake upstream
// (fake-scn-<id>), so a test can slow its model calls down and count them.
export async function scenarioModel(tenant: TestTenant, scenario: Record<string, unknown> = {}): Promise<{ model: string; calls: () => Promise<number> }> {
  const id = crypto.randomUUID();
  const model = `fake-scn-${id}`;
  expectStatus(await admin(tenant.owner, "POST", "/models", { tenant_id: tenant.tenantId, public_name: model, provider_id: tenant.providerId, upstream_model: model }), 201);
  await fetch(`${env.FAKE_UPSTREAM_URL}/control/scenario/${id}`, { method: "POST", body: JSON.stringify(scenario) });
  return {
    model,
    calls: async () => ((await (await fetch(`${env.FAKE_UPSTREAM_URL}/control/scenario/${id}`)).json()) as { total: number }).total,
  };
}

export function hookHeaders(token: string, key?: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...(key ? { "idempotency-key": key } : {}) };
}

export function openSocket(accountId: string, peer: string): Promise<Response> {
  return SELF.fetch(`${BASE}/webchat/${accountId}/ws?peer=${peer}`, { headers: { upgrade: "websocket" } });
}

export function newPeer(): string {
  return crypto.randomUUID().replace(/-/g, "");
}

// An accepted socket and every frame it received, parsed.
export async function connect(accountId: string, peer = newPeer()): Promise<{ ws: WebSocket; frames: any[]; closed: () => boolean }> {
  const res = await openSocket(accountId, peer);
  if (res.status !== 101) throw new Error(`socket refused: ${res.status} ${await res.text()}`);
  const ws = res.webSocket as WebSocket;
  ws.accept();
  const frames: any[] = [];
  let closed = false;
  ws.addEventListener("message", (ev) => frames.push(JSON.parse(ev.data as string)));
  ws.addEventListener("close", () => {
    closed = true;
  });
  return { ws, frames, closed: () => closed };
}

export function enc(key: string): string {
  return encodeURIComponent(key);
}

export async function exportSession(owner: string, key: string): Promise<any> {
  return expectStatus(await admin(owner, "GET", `/sessions/${enc(key)}/export`), 200).body;
}
