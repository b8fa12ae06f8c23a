// The whole messaging path on this machine, for the channels end-to-end test and benchmark:
// the gpu-backend on a generated tiny model, the fake platforms (test/fakes: Telegram Bot API,
// Slack Web API, Discord REST API, LINE Messaging API, WhatsApp Cloud API, Feishu Open API), and `wrangler dev` (workerd, local D1 and Durable Objects, state on disk) that
// can be killed and started again on the same state: the processes `npm start` runs. A tenant,
// provider, model, agent, one account per platform (./channel-drivers.ts) and a binding are made
// through the real admin API.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signAdminToken } from "../../workers/auth/admin-token.ts";
import { startFakeDiscord, type FakeDiscord } from "../fakes/discord.ts";
import { startFakeFeishu, type FakeFeishu } from "../fakes/feishu.ts";
import { startFakeLine, type FakeLine } from "../fakes/line.ts";
import { startFakeWhatsapp, type FakeWhatsapp } from "../fakes/whatsapp.ts";
import { startFakeSlack, type FakeSlack } from "../fakes/slack.ts";
import { startFakeTelegram, type FakeTelegram } from "../fakes/telegram.ts";
import {
  DISCORD_BOT_TOKEN,
  DISCORD_TOKEN_REF,
  discordDriver,
  SLACK_BOT_TOKEN,
  SLACK_SIGNING_REF,
  SLACK_SIGNING_SECRET,
  SLACK_STREAM_BOT_TOKEN,
  SLACK_STREAM_TOKEN_REF,
  SLACK_TOKEN_REF,
  slackDriver,
  TELEGRAM_BOT_TOKEN,
  TELEGRAM_TOKEN_REF,
  telegramDriver,
  type ChannelDriver,
  type Delivery,
  type DriverContext,
  type Platform,
} from "./channel-drivers.ts";
import { FEISHU_APP_SECRET, FEISHU_ENCRYPT_KEY, FEISHU_ENCRYPT_REF, FEISHU_SECRET_REF, feishuDriver, type FeishuDriver } from "./drivers/feishu.ts";
import { WHATSAPP_ACCESS_TOKEN, WHATSAPP_APP_SECRET, WHATSAPP_SECRET_REF, WHATSAPP_TOKEN_REF, whatsappDriver, type WhatsappDriver } from "./drivers/whatsapp.ts";
import { LINE_ACCESS_TOKEN, LINE_CHANNEL_SECRET, LINE_SECRET_REF, LINE_TOKEN_REF, lineDriver, type LineDriver } from "./drivers/line.ts";
import { adminClient, freePort, quietEnv as quiet, root, waitDown, waitUp, wranglerBin } from "../support/local-stack.ts";

const ADMIN_SECRET = "channels-stack-admin-secret-0123456789abcdef";

export interface Stack {
  base: string;
  telegram: FakeTelegram;
  slack: FakeSlack;
  discord: FakeDiscord;
  line: FakeLine;
  whatsapp: FakeWhatsapp;
  feishu: FakeFeishu;
  // One account per platform, each with its driver.
  drivers: Record<Platform, ChannelDriver> & { line: LineDriver; feishu: FeishuDriver; whatsapp: WhatsappDriver };
  // What another account of the same tenant and agent needs (./channel-drivers.ts).
  driverContext: DriverContext;
  // Stops wrangler dev the hard way (SIGKILL to its process group: no graceful shutdown).
  killGateway(): Promise<void>;
  startGateway(): Promise<void>;
  exportSession(driver: ChannelDriver, chat: number): Promise<any>;
  admin(method: string, path: string, body?: unknown): Promise<any>;
  agentId: string;
  close(): Promise<void>;
}

export interface StackOptions {
  // Tokens the tiny model generates per reply.
  replyTokens?: number;
  log?: (msg: string) => void;
  // wrangler dev's stdout/stderr (default: ignored).
  inherit?: boolean;
  // Where the local D1 and Durable Object state lives (default: the OS temp dir).
  stateParent?: string;
  // Another way to host the Worker on the same state (default: `wrangler dev`).
  host?: (o: { root: string; state: string; port: number; secrets: Record<string, string>; env: NodeJS.ProcessEnv }) => Promise<{ dispose(): Promise<void> }>;
  // More limits for every platform account (schema/channels.ts channelLimits).
  accountLimits?: Record<string, number>;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => {});
  const dir = mkdtempSync(join(options.stateParent ?? tmpdir(), "edgeclaw-channels-"));
  const stateDir = join(dir, "state");
  const devVars = join(dir, "dev.vars");
  // Send retries start at 200 ms so a run recovers quickly; the local fakes (Bot API, gpu-backend)
  // are plain-http 127.0.0.1, which the outbound-URL policy allows only by this opt-in;
  // everything else as deployed.
  const secrets: Record<string, string> = {
    ADMIN_JWT_SECRET: ADMIN_SECRET,
    [TELEGRAM_TOKEN_REF]: TELEGRAM_BOT_TOKEN,
    [SLACK_TOKEN_REF]: SLACK_BOT_TOKEN,
    [SLACK_STREAM_TOKEN_REF]: SLACK_STREAM_BOT_TOKEN,
    [SLACK_SIGNING_REF]: SLACK_SIGNING_SECRET,
    [DISCORD_TOKEN_REF]: DISCORD_BOT_TOKEN,
    [LINE_TOKEN_REF]: LINE_ACCESS_TOKEN,
    [LINE_SECRET_REF]: LINE_CHANNEL_SECRET,
    [WHATSAPP_TOKEN_REF]: WHATSAPP_ACCESS_TOKEN,
    [WHATSAPP_SECRET_REF]: WHATSAPP_APP_SECRET,
    [FEISHU_SECRET_REF]: FEISHU_APP_SECRET,
    [FEISHU_ENCRYPT_REF]: FEISHU_ENCRYPT_KEY,
    SEND_RETRY_BASE_MS: "200",
    TURN_RETRY_BASE_MS: "500",
    OUTBOUND_ALLOW_HOSTS: "127.0.0.1",
  };
  writeFileSync(devVars, Object.entries(secrets).map(([k, v]) => `${k}="${v}"\n`).join(""));
  const modelPath = join(dir, "tiny.gguf");
  const made = spawnSync(process.execPath, [join(root, "gpu-backend", "src", "tools", "make-tiny-model.ts"), modelPath, "--eos", "never"], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`make-tiny-model failed: ${made.stderr}`);

  const [gatewayPort, gpuPort] = [await freePort(), await freePort()];
  const telegram = await startFakeTelegram();
  const slack = await startFakeSlack();
  const discord = await startFakeDiscord();
  const line = await startFakeLine();
  const whatsapp = await startFakeWhatsapp();
  const feishu = await startFakeFeishu();
  const children: ChildProcess[] = [];

  log("starting the gpu-backend");
  // In a deployment the model runs on its own GPU hosts; here it shares two cores with the
  // gateway, so it runs at a lower CPU priority to keep it from starving the Worker.
  const gpu = spawn("nice", ["-n", "15", process.execPath, join(root, "gpu-backend", "src", "main.ts")], {
    cwd: root,
    env: { ...process.env, PORT: String(gpuPort), HOST: "127.0.0.1", MODEL: modelPath, MODEL_ID: "tiny", SLOTS: "4", THREADS: "1", CONTEXT_SIZE: "2048", QUEUE_LIMIT: "1024" },
    stdio: ["ignore", "ignore", options.inherit ? "inherit" : "ignore"],
  });
  children.push(gpu);

  log("applying D1 migrations");
  const migrate = spawnSync(process.execPath, [wranglerBin, "d1", "migrations", "apply", "edgeclaw", "--local", "--persist-to", stateDir], { cwd: root, env: quiet, encoding: "utf8" });
  if (migrate.status !== 0) throw new Error(`migrations failed: ${migrate.stdout}${migrate.stderr}`);

  const base = `http://127.0.0.1:${gatewayPort}`;
  let dev: ChildProcess | null = null;
  let hosted: { dispose(): Promise<void> } | null = null;
  const startGateway = async () => {
    if (options.host) {
      hosted = await options.host({ root, state: stateDir, port: gatewayPort, secrets, env: quiet });
      return;
    }
    dev = spawn(
      process.execPath,
      [wranglerBin, "dev", "--ip", "127.0.0.1", "--port", String(gatewayPort), "--persist-to", stateDir, "--env-file", devVars, "--show-interactive-dev-session=false", "--log-level=warn"],
      { cwd: root, env: quiet, stdio: ["ignore", options.inherit ? "inherit" : "ignore", options.inherit ? "inherit" : "ignore"], detached: true },
    );
    children.push(dev);
    await waitUp(`${base}/health`, dev);
  };
  const killGateway = async () => {
    if (hosted) {
      await hosted.dispose();
      hosted = null;
      return;
    }
    const child = dev;
    if (!child?.pid || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGKILL");
    await exited;
    await waitDown(`${base}/health`);
  };

  log("starting wrangler dev");
  await Promise.all([startGateway(), waitUp(`http://127.0.0.1:${gpuPort}/health/ready`, gpu)]);

  const owner = await signAdminToken(ADMIN_SECRET, { sub: "stack", role: "owner" }, 3600);
  const adminCall = adminClient(base, owner);
  const tenant = "channels";
  await adminCall("POST", "/tenants", { id: tenant, name: "Channels" });
  const provider = await adminCall("POST", "/providers", { tenant_id: tenant, name: "gpu", kind: "openai-compatible", base_url: `http://127.0.0.1:${gpuPort}/v1` });
  await adminCall("POST", "/models", { tenant_id: tenant, public_name: "tiny", provider_id: provider.id, upstream_model: "tiny" });
  const agent = await adminCall("POST", "/agents", { tenant_id: tenant, name: "bot", system_prompt: "You are terse.", model: "tiny", max_reply_tokens: options.replyTokens ?? 8 });
  const driverContext: DriverContext = {
    admin: adminCall,
    tenant,
    agentId: agent.id,
    // The bench opens ~450 new chats per platform in well under a minute (warm-up, a burst of
    // 200, 200 paced): a load test's accounts raise the default new-session cap (300/min) like an
    // operator would. The platforms' send limits stay their own.
    limits: { new_sessions_per_min: 10_000, ...options.accountLimits },
  };
  const drivers: Stack["drivers"] = {
    telegram: await telegramDriver(driverContext, telegram.url),
    slack: await slackDriver(driverContext, slack.url),
    discord: await discordDriver(driverContext, discord.url),
    line: await lineDriver(driverContext, line.url),
    whatsapp: await whatsappDriver(driverContext, whatsapp.url),
    feishu: await feishuDriver(driverContext, feishu.url),
  };
  await adminCall("POST", "/bindings", { tenant_id: tenant, agent_id: agent.id });

  return {
    base,
    telegram,
    slack,
    discord,
    line,
    whatsapp,
    feishu,
    drivers,
    driverContext,
    killGateway,
    startGateway,
    admin: adminCall,
    agentId: agent.id,
    exportSession(driver, chat) {
      return adminCall("GET", `/sessions/${encodeURIComponent(driver.sessionKey(chat))}/export`);
    },
    async close() {
      if (hosted) await hosted.dispose();
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null || !child.pid) continue;
        const exited = new Promise((r) => child.once("exit", r));
        if (child === dev) process.kill(-child.pid, "SIGINT");
        else child.kill("SIGINT");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      await telegram.close();
      await slack.close();
      await discord.close();
      await line.close();
      await whatsapp.close();
      await feishu.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Delivers like the platforms do: POST, retried until it gets a 2xx (the gateway may be down
// meanwhile). `redelivery`: the platform sends an already acknowledged message again (its
// first attempt is then a retry). Returns the time the successful delivery took.
export async function deliverUntilAcked(
  stack: Stack,
  delivery: Delivery,
  o: { retryMs?: number; giveUpMs?: number; redelivery?: boolean } = {},
): Promise<{ ms: number; status: string; tries: number }> {
  const until = Date.now() + (o.giveUpMs ?? 180_000);
  const retryMs = o.retryMs ?? 250;
  let refused: string | null = null;
  await delivery.prepare?.();
  for (let tries = o.redelivery ? 2 : 1; ; tries++) {
    const started = performance.now();
    try {
      const res = await fetch(`${stack.base}${delivery.path}`, {
        method: "POST",
        headers: delivery.headers(tries),
        body: delivery.body,
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.ok) return { ms: performance.now() - started, status: (JSON.parse(text) as { status?: string }).status ?? "", tries };
      // A refusal of the delivery itself (bad signature, malformed, unknown account) is the
      // test's bug, not an outage to wait out.
      if ([400, 401, 403, 404].includes(res.status)) refused = `${res.status} ${text.slice(0, 300)}`;
    } catch {
      // the gateway is down or restarting: retry like the platform would
    }
    if (refused) throw new Error(`delivery to ${delivery.path} refused: ${refused}`);
    if (Date.now() > until) throw new Error("delivery never acknowledged");
    await new Promise((r) => setTimeout(r, retryMs));
  }
}
