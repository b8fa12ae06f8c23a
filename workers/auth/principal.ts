// Who is calling /v1: the API key's tenant and scopes, resolved from the key's SHA-256.
// Lookups are cached per isolate (TtlCache) so the hot path reads D1 once per key per TTL.
// Comparing secrets: the key is never compared directly; its SHA-256 is looked up through a
// unique index. Timing of that lookup reveals nothing useful, since a caller cannot steer the
// hash of a guess towards a stored hash.
import { eq } from "drizzle-orm";
import { z } from "zod";
import { apiKeyScopes, type ApiKeyScope } from "../../schema/admin.ts";
import { apiKeys, tenants } from "../../schema/db.ts";
import { TtlCache } from "../cache/ttl-cache.ts";
import { database } from "../db.ts";
import { hashApiKey } from "./api-keys.ts";

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: readonly ApiKeyScope[];
  expiresAt: number | null;
  tenantRevoked: boolean;
}

// Revoked or unknown keys are cached as null: a revoked key must not cost a D1 query per try.
const keyCache = new TtlCache<Principal | null>(10_000);

const storedScopes = z.array(z.string()).catch([]);

export async function principalForKey(
  d1: D1Database,
  key: string,
  ttlMs: number,
): Promise<Principal | null> {
  const hash = await hashApiKey(key);
  return keyCache.get(hash, ttlMs, () => loadPrincipal(d1, hash));
}

async function loadPrincipal(d1: D1Database, hash: string): Promise<Principal | null> {
  const row = await database(d1)
    .select({
      keyId: apiKeys.id,
      tenantId: apiKeys.tenantId,
      scopes: apiKeys.scopes,
      expiresAt: apiKeys.expiresAt,
      revokedAt: apiKeys.revokedAt,
      tenantRevokedAt: tenants.revokedAt,
    })
    .from(apiKeys)
    .innerJoin(tenants, eq(tenants.id, apiKeys.tenantId))
    .where(eq(apiKeys.keyHash, hash))
    .get();
  if (!row || row.revokedAt !== null) return null;
  const known = new Set<string>(apiKeyScopes);
  return {
    keyId: row.keyId,
    tenantId: row.tenantId,
    scopes: storedScopes.parse(safeJson(row.scopes)).filter((s): s is ApiKeyScope => known.has(s)),
    expiresAt: row.expiresAt,
    tenantRevoked: row.tenantRevokedAt !== null,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return [];
  }
}

// Admin writes in this isolate take effect at once; other isolates catch up within the TTL.
export function forgetKey(hash: string): void {
  keyCache.invalidate(hash);
}

export function forgetAllKeys(): void {
  keyCache.clear();
}
