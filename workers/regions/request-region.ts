// Which region a request belongs to, read from what it carries (docs/deploy.md, "One global
// entry point"). Nothing here is verified: this only decides where to send the request, and the
// home region's Worker checks the credential itself. A forged region therefore only moves a
// request to a Worker that will refuse it.
import { decodeJwt } from "jose";
import { bearerToken } from "../http/api-key-auth.ts";
import { hookAccountOf } from "../channels/hook.ts";

export type RegionSource = "api key" | "admin token" | "tenant or object id" | "region header" | "account id" | "hook token";

export interface RegionClaim {
  region: string;
  source: RegionSource;
}

export const REGION_HEADER = "x-edgeclaw-region";

// `sk-ec-<region>-<43 base64url>` (workers/auth/api-keys.ts). Anchored, no nested quantifiers.
const REGIONAL_KEY = /^sk-ec-([a-z][a-z0-9]{1,7})-/;
// `<prefix>_<region>_<24 hex>` (workers/admin/ids.ts).
const REGIONAL_ID = /^[a-z]{2,8}_([a-z][a-z0-9]{1,7})_[0-9a-f]{24}$/;
// An admin token is a few hundred bytes; decoding is bounded so a huge header costs nothing.
const MAX_TOKEN_CHARS = 8192;

export function regionOfApiKey(key: string | undefined): string | null {
  return key === undefined ? null : (REGIONAL_KEY.exec(key)?.[1] ?? null);
}

export function regionOfId(id: string | null | undefined): string | null {
  return id ? (REGIONAL_ID.exec(id)?.[1] ?? null) : null;
}

function regionOfAdminToken(token: string | undefined): string | null {
  if (token === undefined || token.length > MAX_TOKEN_CHARS) return null;
  try {
    const claims = decodeJwt(token);
    if (typeof claims.region === "string") return claims.region;
    // A tenant-scoped token of a generated tenant id carries the region in the id.
    return typeof claims.tenant === "string" ? regionOfId(claims.tenant) : null;
  } catch {
    return null;
  }
}

function claim(region: string | null, source: RegionSource): RegionClaim | null {
  return region === null ? null : { region, source };
}

// The first path segments name the surface: /v1 (API keys), /admin (admin tokens),
// /webhooks/<platform>/<account>, /webchat/<account>, /hooks (hook tokens).
export function regionOfRequest(request: Request, path: string): RegionClaim | null {
  const headers = request.headers;
  const [, surface, second, third] = path.split("/", 4);
  switch (surface) {
    case "v1":
      return claim(regionOfApiKey(bearerToken(headers.get("authorization") ?? undefined) ?? headers.get("x-api-key")?.trim()), "api key");
    case "admin": {
      // The token's region first (it is where the token is valid); then the object the path or
      // the tenant_id query names (`/admin/tenants/ten_us_…`, `?tenant_id=ten_us_…`), since that
      // is where the object lives; the header only when nothing else says.
      const fromToken = claim(regionOfAdminToken(bearerToken(headers.get("authorization") ?? undefined)), "admin token");
      const fromId = claim(regionOfId(third) ?? regionOfId(new URL(request.url).searchParams.get("tenant_id")), "tenant or object id");
      const header = headers.get(REGION_HEADER)?.trim();
      return fromToken ?? fromId ?? claim(header ? header : null, "region header");
    }
    case "webhooks":
      return claim(regionOfId(third), "account id");
    case "webchat":
      return claim(regionOfId(second), "account id");
    case "hooks":
      return claim(regionOfId(hookAccountOf(bearerToken(headers.get("authorization") ?? undefined))), "hook token");
    default:
      return null;
  }
}
