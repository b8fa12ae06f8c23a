// Feishu's tenant_access_token for one app account, as the FeishuTokenCache Durable Object
// (durable-objects/feishu-token.ts, one per channel account) keeps it
// (https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token_internal):
//   fetch    POST {host}/open-apis/auth/v3/tenant_access_token/internal {app_id, app_secret} ->
//            {code: 0, tenant_access_token, expire (seconds left)}. The token lives at most 2
//            hours; asked again while it has 30 minutes or more left Feishu answers the same
//            token, under 30 minutes a new one (both stay valid until their own expiry)
//   cache    until 30 minutes before expiry (half its life for a short-lived token), so a
//            refresh always gets a fresh token and an old one is never used near its end.
//            Memory only: a credential is not written to disk, and an evicted object's next
//            fetch gets the same token back from Feishu anyway
//   order    one refresh at a time: callers arriving while one is in flight await the same one,
//            so any number of concurrent sends cost one token request
//   dropped  a send answered "invalid access token" (99991663/99991661) drops the token it used,
//            unless a newer one already replaced it, and the next call fetches again
//   tenancy  the object is named by the account id and checks that the id it is asked for is
//            its own name; everything else (tenant, App ID, host, App Secret reference) is read
//            from D1 by that id and the secret resolved in that account's tenant, so a caller can
//            neither point it at another tenant's secret nor read the secret (only the token
//            leaves it)
import { feishuHosts } from "../../schema/channel-settings.ts";
import { feishuTokenAnswer } from "../../schema/feishu.ts";
import { accountById } from "../agents/config.ts";
import { resolveSecret } from "../auth/secrets.ts";
import type { Env } from "../env.ts";
import { answerTooLarge, PlatformAnswerTooLarge, platformErrorText, platformFetch, readPlatformJson, retryAfterSecondsMs } from "./platform-http.ts";
import { httpFailure, networkFailure } from "./secrets.ts";
import type { AccountConfig, SendResult } from "./types.ts";
import { objectNamed } from "../regions/objects.ts";

export const TOKEN_REFRESH_MARGIN_MS = 30 * 60_000;
const TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal";

export interface CachedToken {
  token: string;
  expiresAt: number;
  refreshAt: number;
}

export type TokenOutcome = { ok: true; token: string; expiresAt: number } | Extract<SendResult, { ok: false }>;

// The API base of an account: its api_base_url, else Feishu's or Lark's host.
export function feishuBase(account: Pick<AccountConfig, "feishu">): string {
  return feishuHosts[account.feishu?.host ?? "feishu"];
}

export function refreshAtOf(fetchedAt: number, expireS: number): number {
  const life = expireS * 1000;
  return fetchedAt + Math.max(life - TOKEN_REFRESH_MARGIN_MS, life / 2);
}

function failure(error: string, retryable: boolean, retryAfterMs: number | null = null): Extract<SendResult, { ok: false }> {
  return { ok: false, retryable, retryAfterMs, error };
}

// One token request for the account named `accountId` (read again from D1: revoked -> refused).
export async function fetchTenantToken(env: Env, accountId: string): Promise<{ ok: true; cached: CachedToken } | Extract<SendResult, { ok: false }>> {
  const account = await accountById(env, accountId);
  if (!account || account.channel !== "feishu" || !account.feishu) return failure("feishu token: the account is unknown, revoked or not a feishu app", false);
  // Resolved in the account's own tenant: a vault: reference opens only that tenant's secret.
  const secret = await resolveSecret(env, account.tenantId, account.tokenRef, "FEISHU_");
  if (!secret.ok) return failure(`feishu app secret: ${secret.message}`, secret.code === "vault_unavailable");
  const body = JSON.stringify({ app_id: account.feishu.app_id, app_secret: secret.value });
  const fetched = await platformFetch(env, account.apiBaseUrl, feishuBase(account), TOKEN_PATH, { method: "POST", headers: { "content-type": "application/json; charset=utf-8" }, body });
  if (!fetched.ok) return fetched.failure;
  const res = fetched.res;
  let payload: unknown;
  try {
    payload = await readPlatformJson(res);
  } catch (err) {
    if (err instanceof PlatformAnswerTooLarge) return answerTooLarge(err);
    return res.ok ? networkFailure(err) : httpFailure(res.status, `feishu token ${res.status}: not JSON`, null);
  }
  const answer = feishuTokenAnswer.safeParse(payload);
  if (answer.success && answer.data.code === 0 && answer.data.tenant_access_token && answer.data.expire) {
    const now = Date.now();
    return { ok: true, cached: { token: answer.data.tenant_access_token, expiresAt: now + answer.data.expire * 1000, refreshAt: refreshAtOf(now, answer.data.expire) } };
  }
  const code = answer.success ? answer.data.code : null;
  const error = `feishu token ${res.status}: code ${code ?? "?"} ${platformErrorText(answer.success ? (answer.data.msg ?? "") : "")}`.trim();
  // The frequency limit, and the platform's own trouble, pass; a wrong App ID or Secret does not.
  if (code === 99991400 || res.status === 429) return { ...failure(error, true, retryAfterSecondsMs(res.headers.get("x-ogw-ratelimit-reset"))), accountWide: true };
  if (res.status >= 500 || code === 99991401 || code === 99991402) return failure(error, true);
  return failure(error, false);
}

// The Worker side: the account's token from its one Durable Object. `stale`: the token a send
// was refused with, dropped before the answer.
export async function feishuToken(env: Env, accountId: string, stale: string | null = null): Promise<TokenOutcome> {
  const stub = objectNamed(env, env.FEISHU_TOKENS, accountId);
  return stub.token(accountId, stale);
}
