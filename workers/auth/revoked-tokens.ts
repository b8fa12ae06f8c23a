// Revoked admin token ids (D1 table revoked_admin_tokens), checked on every admin request.
// Cached per isolate for CACHE_TTL_MS like API keys, with no stale grace: the isolate that
// handled the revocation forgets its entry at once; any other isolate stops accepting the token
// within CACHE_TTL_MS (the same documented bound as API key and tenant revocation).
import { eq, lt } from "drizzle-orm";
import { revokedAdminTokens } from "../../schema/db.ts";
import { TtlCache } from "../cache/ttl-cache.ts";
import { database, type Database } from "../db.ts";
import { settings, type Env } from "../env.ts";

const revokedCache = new TtlCache<boolean>(10_000);

export function isTokenRevoked(env: Env, jti: string): Promise<boolean> {
  return revokedCache.get(jti, settings(env).cacheTtlMs, async () => {
    const row = await database(env.DB).select({ jti: revokedAdminTokens.jti }).from(revokedAdminTokens).where(eq(revokedAdminTokens.jti, jti)).get();
    return row !== undefined;
  });
}

// The insert, for the caller's batch (with its audit row). Revoking twice keeps the first row.
export function revokeStatement(db: Database, jti: string, expiresAtMs: number, at = Date.now()) {
  return db.insert(revokedAdminTokens).values({ jti, expiresAt: expiresAtMs, revokedAt: at }).onConflictDoNothing();
}

export function forgetRevocation(jti: string): void {
  revokedCache.invalidate(jti);
}

// A revoked token past its exp is refused by its signature check anyway: its row can go.
export async function purgeExpiredRevocations(env: Env, now = Date.now()): Promise<number> {
  const res = await database(env.DB).delete(revokedAdminTokens).where(lt(revokedAdminTokens.expiresAt, now)).run();
  return res.meta.changes ?? 0;
}
