// Helpers for the Discord Gateway tests: a Discord bot (test/channels/discord-helpers.ts: its
// token in the tenant's vault, its REST API the fake in test/fakes/discord.ts) whose GET
// /gateway/bot points at the fake Gateway (test/fakes/discord-gateway.ts), the admin calls that
// start, stop and read the connection, MESSAGE_CREATE payloads as Discord sends them, and what
// the fake Gateway saw.
import { env } from "cloudflare:workers";
import type { GatewayFrame } from "../fakes/discord-gateway.ts";
import { admin, expectStatus } from "../gateway/helpers.ts";
import { waitFor } from "./helpers.ts";
import { discordControl, setupDiscord, snowflake, type DiscordSetup } from "./discord-helpers.ts";

export interface GatewayStats {
  sockets: number;
  open: number;
  max_open: number;
  identifies: number;
  resumes: number;
  heartbeats: number;
  acks: number;
  session_id: string | null;
  seq: number;
  frames: GatewayFrame[];
}

// Every bot of every test uses the one shared socket URL, like Discord's: the fake tells bots
// apart by the token of their IDENTIFY/RESUME, so setting it from many tests at once is harmless.
export async function setupGateway(options: Parameters<typeof setupDiscord>[0] = {}): Promise<DiscordSetup> {
  await discordControl("gateway", { url: `${env.FAKE_DISCORD_GATEWAY_URL.replace("http://", "ws://")}/ws` });
  return setupDiscord(options);
}

function controlUrl(s: DiscordSetup, what: string): string {
  return `${env.FAKE_DISCORD_GATEWAY_URL}/control/${encodeURIComponent(s.botToken)}/${what}`;
}

export async function gw(s: DiscordSetup, what: "config" | "dispatch" | "drop" | "close" | "reconnect" | "invalid" | "raw", body: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(controlUrl(s, what), { method: "POST", body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`fake gateway ${what}: ${res.status} ${await res.text()}`);
  return res.json();
}

export async function gwStats(s: DiscordSetup): Promise<GatewayStats> {
  return (await (await fetch(controlUrl(s, "stats"))).json()) as GatewayStats;
}

export function gatewayPath(s: DiscordSetup, action?: "start" | "stop"): string {
  return `/channel-accounts/${s.accountId}/gateway${action ? `/${action}` : ""}`;
}

export async function startGateway(s: DiscordSetup): Promise<any> {
  return expectStatus(await admin(s.tenant.owner, "POST", gatewayPath(s, "start")), 200).body;
}

export async function stopGateway(s: DiscordSetup): Promise<any> {
  return expectStatus(await admin(s.tenant.owner, "POST", gatewayPath(s, "stop")), 200).body;
}

export async function gatewayState(s: DiscordSetup): Promise<any> {
  return expectStatus(await admin(s.tenant.owner, "GET", gatewayPath(s)), 200).body;
}

export async function waitState(s: DiscordSetup, done: (state: any) => boolean, timeoutMs = 20_000): Promise<any> {
  return waitFor(() => gatewayState(s), done, timeoutMs);
}

export async function waitStats(s: DiscordSetup, done: (stats: GatewayStats) => boolean, timeoutMs = 20_000): Promise<GatewayStats> {
  return waitFor(() => gwStats(s), done, timeoutMs);
}

// Started and connected (READY seen by the object).
export async function connectedGateway(options: Parameters<typeof setupDiscord>[0] = {}): Promise<DiscordSetup> {
  const s = await setupGateway(options);
  await startGateway(s);
  const state = await waitState(s, (x) => x.status === "connected");
  if (state.status !== "connected") throw new Error(`gateway never connected: ${JSON.stringify(state)}`);
  return s;
}

export interface MessageOptions {
  channel?: string;
  guild?: string | null;
  author?: string;
  bot?: boolean;
  mentions?: string[];
  replyToAuthor?: string;
  attachments?: { id: string; filename: string }[];
}

// A MESSAGE_CREATE's data as Discord sends it (https://discord.com/developers/docs/resources/message).
export function messageCreate(content: string, o: MessageOptions = {}) {
  const guild = o.guild === undefined ? null : o.guild;
  return {
    id: snowflake(),
    type: o.replyToAuthor ? 19 : 0,
    channel_id: o.channel ?? snowflake(),
    ...(guild !== null ? { guild_id: guild, member: { roles: [], joined_at: "2024-01-01T00:00:00.000000+00:00" } } : {}),
    author: { id: o.author ?? "300000000000000003", username: "alice", global_name: "Alice", ...(o.bot ? { bot: true } : {}) },
    content,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: (o.mentions ?? []).map((id) => ({ id, username: "edgeclaw", bot: true })),
    mention_roles: [],
    attachments: o.attachments ?? [],
    embeds: [],
    pinned: false,
    ...(o.replyToAuthor ? { message_reference: { message_id: snowflake() }, referenced_message: { id: snowflake(), author: { id: o.replyToAuthor, username: "edgeclaw" }, content: "earlier" } } : {}),
  };
}

// hold: the Gateway keeps them for a RESUME without sending them now (lost on the wire).
export async function pushMessages(s: DiscordSetup, messages: unknown[], hold = false): Promise<number[]> {
  return (await gw(s, "dispatch", { events: messages.map((d) => ({ t: "MESSAGE_CREATE", d })), hold })).s as number[];
}

export function framesOf(stats: GatewayStats, op: number): GatewayFrame[] {
  return stats.frames.filter((f) => f.op === op);
}
