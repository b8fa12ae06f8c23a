// D1 tables that exist only for GET /metrics (workers/metrics/): state that lives in Durable
// Objects, mirrored where one query can read it across all of them. Never written on a request path.
import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

// One row per circuit breaker (durable-objects/circuit-breaker.ts, key `<tenant>|<route>|<target>`),
// written by the breaker's own alarm after its phase changed (retried until D1 takes it) and
// refreshed while the breaker is in use, so a row whose target is no longer called ages out
// (workers/metrics/breakers.ts).
export const breakerStates = sqliteTable(
  "breaker_states",
  {
    key: text("key").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    route: text("route").notNull(),
    // The target's route-tree path, with `@<replica>` for a replica's own breaker.
    target: text("target").notNull(),
    // 0 closed, 1 half-open, 2 open (the value of edgeclaw_breaker_state).
    phase: integer("phase").notNull(),
    // Phase changes since the breaker object was created (monotonic: a counter).
    transitions: integer("transitions").notNull(),
    // Epoch ms: until when an open breaker refuses calls (0 when not open).
    openUntil: integer("open_until").notNull(),
    // Epoch ms of the last phase change, and of the last write (refreshed while in use).
    changedAt: integer("changed_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("breaker_states_updated_idx").on(t.updatedAt)],
);
