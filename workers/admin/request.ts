// Reading and validating admin request bodies and queries.
import type { Context } from "hono";
import type { z } from "zod";
import { listQuery } from "../../schema/admin.ts";
import type { AppEnv } from "../env.ts";
import { readJsonBody } from "../http/body.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { tenantForRead } from "./access.ts";

// Admin bodies are small config objects.
const MAX_ADMIN_BODY = 64 * 1024;

export async function adminBody<S extends z.ZodType>(c: Context<AppEnv>, schema: S): Promise<z.infer<S>> {
  return parseOr400(schema, await readJsonBody(c, MAX_ADMIN_BODY));
}

// ?tenant_id= and ?limit= of a list route, with the tenant already narrowed to the token's
// scope (undefined: every tenant, for owners and unscoped viewers).
export function scopedListQuery(c: Context<AppEnv>): { tenantId: string | undefined; limit: number } {
  const q = parseOr400(listQuery, c.req.query());
  return { tenantId: tenantForRead(c.get("admin"), q.tenant_id), limit: q.limit ?? 100 };
}

// D1 reports constraint failures as plain errors; the admin API answers them as 409.
export function conflictOnUnique(err: unknown, message: string): never {
  if (err instanceof Error && /UNIQUE constraint failed/i.test(err.message + String(err.cause ?? ""))) {
    throw new ApiError(409, "conflict", message);
  }
  throw err;
}
