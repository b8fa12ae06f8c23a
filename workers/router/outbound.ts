// The router's point-of-use checks before an upstream call or a metrics poll: the URL must pass
// the outbound-URL policy (workers/security/outbound-url.ts) and, where the provider's credential
// goes with it, be one the provider row declares (its base_url or a declared replica). The admin
// API checks both on write; this catches rows written some other way (a forged or stale D1 row)
// and policy changes since, without making a request. Verdicts are memoised per isolate: the
// same few URLs are checked on every request.
import type { Env } from "../env.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import type { ProviderInfo } from "./catalog.ts";

const MAX_MEMO = 1_000;
const memo = new Map<string, string | null>();

// Null when the URL may be fetched, else why not.
export function refusedUrl(env: Env, url: string): string | null {
  const key = `${env.OUTBOUND_ALLOW_HOSTS ?? ""}\n${url}`;
  let verdict = memo.get(key);
  if (verdict === undefined) {
    const checked = checkOutboundUrl(env, url);
    verdict = checked.ok ? null : checked.reason;
    if (memo.size >= MAX_MEMO) memo.delete(memo.keys().next().value as string);
    memo.set(key, verdict);
  }
  return verdict;
}

// May the provider's credential be sent to this URL? Only to what the provider row declares.
export function declaredBy(provider: ProviderInfo, url: string): boolean {
  return url === provider.baseUrl || provider.replicas.some((r) => r.base_url === url);
}
