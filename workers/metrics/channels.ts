// Channel series for GET /metrics: inbox/outbox depth per (tenant, channel), summed over the
// channel's sessions from the depths each session's Durable Object mirrors into D1's `sessions`
// row (inbox_depth, outbox_depth, depth_at), and dead letters per (tenant, channel) from D1's
// `dead_letters` index (rows leave it when an operator retries or drops them). Gauges of the
// present, never isolate memory.
import type { Exposition } from "./exposition.ts";

interface DepthRow {
  tenant_id: string;
  channel: string;
  inbox: number;
  outbox: number;
}

interface DeadRow {
  tenant_id: string;
  channel: string;
  dead: number;
}

// Only sessions with something queued are read (the partial index sessions_depth_idx, migration
// 0017); every channel account's (tenant, channel) gets a series, 0 when nothing is queued, so a
// gauge goes back to 0 instead of vanishing (dead letters likewise).
const DEPTH_SQL =
  "SELECT tenant_id, channel, SUM(inbox) AS inbox, SUM(outbox) AS outbox FROM (" +
  "SELECT tenant_id, channel, SUM(inbox_depth) AS inbox, SUM(outbox_depth) AS outbox FROM sessions WHERE inbox_depth > 0 OR outbox_depth > 0 GROUP BY tenant_id, channel " +
  "UNION ALL SELECT DISTINCT tenant_id, channel, 0, 0 FROM channel_accounts" +
  ") GROUP BY tenant_id, channel ORDER BY SUM(inbox) + SUM(outbox) DESC, tenant_id, channel LIMIT ?";

const DEAD_SQL =
  "SELECT tenant_id, channel, SUM(dead) AS dead FROM (" +
  "SELECT tenant_id, channel, COUNT(*) AS dead FROM dead_letters GROUP BY tenant_id, channel " +
  "UNION ALL SELECT DISTINCT tenant_id, channel, 0 FROM channel_accounts" +
  ") GROUP BY tenant_id, channel ORDER BY SUM(dead) DESC, tenant_id, channel LIMIT ?";

export interface ChannelSeries {
  depth: DepthRow[];
  dead: DeadRow[];
  truncated: boolean;
}

export async function readChannels(db: D1Database, max: number): Promise<ChannelSeries> {
  const [depth, dead] = await Promise.all([db.prepare(DEPTH_SQL).bind(max + 1).all<DepthRow>(), db.prepare(DEAD_SQL).bind(max + 1).all<DeadRow>()]);
  return {
    depth: depth.results.slice(0, max),
    dead: dead.results.slice(0, max),
    truncated: depth.results.length > max || dead.results.length > max,
  };
}

export function renderChannels(out: Exposition, s: ChannelSeries): void {
  const labels = (r: { tenant_id: string; channel: string }) => ({ tenant: r.tenant_id, channel: r.channel });
  out.family("edgeclaw_inbox_depth", "gauge", "Inbound messages queued in the channel's sessions, not yet handled by a turn (as the sessions last mirrored it).");
  for (const r of s.depth) out.sample("edgeclaw_inbox_depth", labels(r), r.inbox);
  out.family("edgeclaw_outbox_depth", "gauge", "Replies waiting to be sent in the channel's sessions' outboxes (as the sessions last mirrored it).");
  for (const r of s.depth) out.sample("edgeclaw_outbox_depth", labels(r), r.outbox);
  out.family("edgeclaw_dead_letters", "gauge", "Send intents of the channel that ran out of attempts and wait in the dead-letter index.");
  for (const r of s.dead) out.sample("edgeclaw_dead_letters", labels(r), r.dead);
}
