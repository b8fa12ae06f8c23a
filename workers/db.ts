// The drizzle handle over the D1 binding (cheap to build; one per request is fine).
import { drizzle } from "drizzle-orm/d1";
import * as schema from "../schema/db.ts";

export function database(d1: D1Database) {
  return drizzle(d1, { schema });
}

export type Database = ReturnType<typeof database>;
