// Channel accounts, agents and bindings (workers/admin/channel-accounts.ts, discord-gateway.ts,
// agents.ts).
import { listFlags, tenantFlag, type Flag, type Resource } from "../spec.ts";

const idArg = (what: string) => [{ name: "id", help: `the ${what} id` }];

export const channels: Resource = {
  name: "channels",
  aliases: ["channel-accounts"],
  summary: "channel accounts (Telegram, Slack, Discord, LINE, WhatsApp, Feishu, WebChat, hooks)",
  verbs: [
    {
      name: "list",
      summary: "list accounts with the webhook path to give the platform",
      method: "GET",
      path: "/channel-accounts",
      flags: listFlags,
      output: { columns: ["id", "tenant_id", "channel", "name", "webhook_path", "token_ref", "revoked_at"] },
    },
    {
      name: "create",
      summary: "create an account; the answer shows its webhook secret or hook token, once",
      method: "POST",
      path: "/channel-accounts",
      file: true,
      flags: [
        tenantFlag,
        { name: "channel", required: true, help: "telegram, slack, discord, line, whatsapp, feishu, webchat or hook" },
        { name: "name", required: true, help: "account name (a-z, 0-9, -)" },
        { name: "token-ref", help: "the bot token: vault:<name>, or (owner) a <PLATFORM>_* Worker secret", meta: "REF" },
        { name: "signing-secret-ref", help: "Slack/LINE/WhatsApp/Feishu signing secret reference", meta: "REF" },
        { name: "bot-username", help: "the bot's username or user id", meta: "NAME" },
        { name: "public-key", help: "Discord application public key (hex)", meta: "HEX" },
        { name: "api-base-url", help: "the platform API base (tests, proxies)", meta: "URL" },
        { name: "stream-replies", type: "boolean", help: "stream replies by editing the message (telegram, slack, discord, feishu)" },
        { name: "send-interval-ms", type: "number", help: "minimum gap between sends", meta: "MS" },
        { name: "limits", type: "json", help: "ingress limits object, e.g. {\"hooks_per_min\":60}", meta: "JSON" },
      ],
      notes: [
        "WhatsApp and Feishu settings ({\"whatsapp\": {...}}, {\"feishu\": {...}}) go in --file, and so does a",
        "chosen webhook_secret (a secret is never an option: it would stay in the shell history). Without one,",
        "the gateway generates it and shows it once in the answer.",
      ],
      examples: ["channels create --tenant demo --channel telegram --name support-bot --token-ref vault:telegram", "channels create --tenant demo --channel hook --name ci-hook"],
    },
    { name: "revoke", summary: "revoke an account (webhooks refused from now on)", method: "POST", path: "/channel-accounts/:id/revoke", args: idArg("channel account") },
    { name: "gateway", summary: "a Discord account's Gateway connection state", method: "GET", path: "/channel-accounts/:id/gateway", args: idArg("Discord account") },
    { name: "gateway-start", summary: "connect a Discord bot to the Gateway (stays up until stopped)", method: "POST", path: "/channel-accounts/:id/gateway/start", args: idArg("Discord account") },
    { name: "gateway-stop", summary: "close a Discord bot's Gateway connection", method: "POST", path: "/channel-accounts/:id/gateway/stop", args: idArg("Discord account") },
  ],
};

const agentFields: Flag[] = [
  { name: "system-prompt", help: "the system prompt", meta: "TEXT" },
  { name: "model", help: "the public model (route) name the agent calls", meta: "MODEL" },
  { name: "history-token-budget", type: "number", help: "tokens of history sent per turn (default 4000)", meta: "N" },
  { name: "max-reply-tokens", type: "number", help: "default 512", meta: "N" },
  { name: "dm-policy", help: "open, allowlist or pairing (default open)", meta: "POLICY" },
  { name: "allowlist", type: "list", help: "comma-separated peer ids (dm-policy allowlist)", meta: "LIST" },
  { name: "session-ttl-s", type: "number", help: "idle seconds before a session is reset (default 7 days)", meta: "S" },
  { name: "merge-queued", type: "boolean", help: "answer queued messages as one turn" },
];

export const agents: Resource = {
  name: "agents",
  summary: "agents: system prompt, model, history budget, DM policy, session TTL",
  verbs: [
    { name: "list", summary: "list agents", method: "GET", path: "/agents", flags: listFlags, output: { columns: ["id", "tenant_id", "name", "model", "dm_policy", "session_ttl_s", "updated_at"] } },
    { name: "show", summary: "one agent", method: "GET", path: "/agents/:id", args: idArg("agent") },
    {
      name: "create",
      summary: "create an agent",
      method: "POST",
      path: "/agents",
      file: true,
      flags: [tenantFlag, { name: "name", required: true, help: "agent name (a-z, 0-9, -)" }, ...agentFields.map((f) => (f.name === "system-prompt" || f.name === "model" ? { ...f, required: true } : f))],
      examples: ["agents create --tenant demo --name support --model gpt-4o --system-prompt 'You help with orders.' --dm-policy pairing"],
    },
    { name: "update", summary: "change an agent (any subset of the fields)", method: "PATCH", path: "/agents/:id", args: idArg("agent"), file: true, flags: agentFields },
  ],
};

export const bindings: Resource = {
  name: "bindings",
  summary: "which agent answers which conversations (most specific match wins)",
  verbs: [
    { name: "list", summary: "list bindings", method: "GET", path: "/bindings", flags: listFlags, output: { columns: ["id", "tenant_id", "agent_id", "channel", "account_id", "group_id", "peer_id"] } },
    {
      name: "create",
      summary: "bind an agent to a channel, account, group or peer (unset fields match anything)",
      method: "POST",
      path: "/bindings",
      file: true,
      flags: [
        tenantFlag,
        { name: "agent", field: "agent_id", required: true, help: "the agent id", meta: "ID" },
        { name: "channel", help: "a channel name" },
        { name: "account", field: "account_id", help: "a channel account id", meta: "ID" },
        { name: "group", field: "group_id", help: "a group or chat id", meta: "ID" },
        { name: "peer", field: "peer_id", help: "a user id (not with --group)", meta: "ID" },
      ],
      examples: ["bindings create --tenant demo --agent agt_123 --channel telegram"],
    },
    { name: "delete", summary: "delete a binding", method: "DELETE", path: "/bindings/:id", args: idArg("binding") },
  ],
};
