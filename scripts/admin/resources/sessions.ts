// Sessions, dead letters and pairings (workers/admin/sessions.ts). Session keys and dead-letter
// ids hold '/' and '#': the CLI URL-encodes them in the path, so they are typed as listed.
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { keyValues } from "../format.ts";
import { listFlags, tenantFlag, type Resource } from "../spec.ts";

const keyArg = [{ name: "key", help: "the session key, as `sessions list` shows it" }];

export const sessions: Resource = {
  name: "sessions",
  summary: "sessions: list, show, export (everything the session holds), erase, snapshots",
  verbs: [
    { name: "list", summary: "sessions that ran a turn, newest first", method: "GET", path: "/sessions", flags: listFlags, output: { columns: ["key", "agent_id", "channel", "account_id", "created_at"] } },
    {
      name: "show",
      summary: "a session's summary: agent, activity, message and outbox counts, the last messages",
      args: keyArg,
      run: async (ctx) => {
        const res = await ctx.api("GET", `/sessions/${encodeURIComponent(ctx.args.key as string)}/export`);
        if (ctx.json) return ctx.print(res);
        const s = res.json as Record<string, unknown> & { history?: { role: string; content: string }[]; inbox?: unknown[]; outbox?: { state: string }[]; snapshots?: unknown[] };
        const at = (v: unknown) => (typeof v === "number" ? new Date(v).toISOString() : v);
        const outbox = s.outbox ?? [];
        ctx.io.out(
          keyValues({
            key: s.key,
            agent_id: s.agent_id,
            account_id: s.account_id,
            created_at: at(s.created_at),
            last_active: at(s.last_active),
            model_used: s.model_used,
            paired: s.paired,
            history: (s.history ?? []).length,
            inbox: (s.inbox ?? []).length,
            outbox: outbox.length,
            outbox_dead: outbox.filter((o) => o.state === "dead").length,
            snapshots: (s.snapshots ?? []).length,
          }),
        );
        const last = (s.history ?? []).slice(-6);
        if (last.length > 0) ctx.io.out(`\nlast messages:\n${last.map((h) => `  ${h.role}: ${String(h.content).replaceAll("\n", " ").slice(0, 100)}`).join("\n")}`);
      },
    },
    {
      name: "export",
      summary: "everything the session holds, as JSON (stdout, or --out FILE)",
      args: keyArg,
      flags: [{ name: "out", help: "write it to this file", meta: "FILE" }],
      run: async (ctx) => {
        const res = await ctx.api("GET", `/sessions/${encodeURIComponent(ctx.args.key as string)}/export`);
        const text = ctx.json ? res.text : JSON.stringify(res.json, null, 2);
        if (typeof ctx.values.out !== "string") return ctx.io.out(text);
        const path = resolve(ctx.io.cwd, ctx.values.out);
        writeFileSync(path, `${text}\n`, { mode: 0o600 });
        ctx.io.err(`written to ${path}`);
      },
    },
    {
      name: "erase",
      summary: "erase a session for good (right to be forgotten); unlinks its audit rows",
      method: "DELETE",
      path: "/sessions/:key",
      args: keyArg,
      confirm: "this erases the session's history, outbox and dead letters for good",
    },
    { name: "snapshot", summary: "save the session's history and profile", method: "POST", path: "/sessions/:key/snapshots", args: keyArg },
    {
      name: "restore",
      summary: "put a snapshot's history and profile back",
      method: "POST",
      path: "/sessions/:key/snapshots/:id/restore",
      args: [...keyArg, { name: "id", help: "the snapshot id (sessions export lists them)" }],
    },
  ],
};

const dlArg = [{ name: "id", help: "the dead letter id (<session key>#<intent>)" }];

export const deadLetters: Resource = {
  name: "dead-letters",
  aliases: ["dead-letter", "dlq"],
  summary: "replies that could not be delivered: list, retry, drop",
  verbs: [
    { name: "list", summary: "dead letters, newest first", method: "GET", path: "/dead-letters", flags: listFlags, output: { columns: ["id", "channel", "attempts", "last_error", "created_at"] } },
    { name: "retry", summary: "send it again", method: "POST", path: "/dead-letters/:id/retry", args: dlArg },
    { name: "drop", summary: "give up on it", method: "POST", path: "/dead-letters/:id/drop", args: dlArg },
  ],
};

export const pairings: Resource = {
  name: "pairings",
  summary: "DM pairing requests of pairing-policy agents: list, approve, deny",
  verbs: [
    { name: "list", summary: "pairing requests (a pending one shows its code)", method: "GET", path: "/pairings", flags: listFlags, output: { columns: ["id", "agent_id", "channel", "peer_id", "code", "status", "created_at"] } },
    {
      name: "approve",
      summary: "approve the sender who got this code",
      method: "POST",
      path: "/pairings/approve",
      args: [{ name: "code", help: "the 8-character code the sender got" }],
      flags: [tenantFlag],
    },
    {
      name: "deny",
      summary: "deny the pending request with this code (deleted; a later message from the sender asks again with a new code)",
      method: "POST",
      path: "/pairings/deny",
      args: [{ name: "code", help: "the 8-character code the sender got" }],
      flags: [tenantFlag],
      notes: ["Denying does not block the sender: an agent whose dm_policy is allowlist answers only the peers on its list."],
    },
  ],
};
