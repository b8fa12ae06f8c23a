// Worker entry. No Durable Object classes yet: nothing in the gateway foundation needs a single
// writer (keys and config are read-mostly D1 rows cached per isolate).
import { app } from "./app.ts";
import type { Env } from "./env.ts";

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
