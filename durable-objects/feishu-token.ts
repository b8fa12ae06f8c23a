// FeishuTokenCache: one per Feishu/Lark channel account (named by the account id), the app's
// tenant_access_token shared by every session of the account. Ordering only: one refresh in
// flight at a time, awaited by everyone who asks meanwhile; the token request, the cache policy
// and why it is memory only are in workers/channels/feishu-token.ts.
import { DurableObject } from "cloudflare:workers";
import { fetchTenantToken, type CachedToken, type TokenOutcome } from "../workers/channels/feishu-token.ts";
import type { Env } from "../workers/env.ts";
import { isObjectNamed } from "../workers/regions/objects.ts";

export class FeishuTokenCache extends DurableObject<Env> {
  private cached: CachedToken | null = null;
  private refreshing: Promise<TokenOutcome> | null = null;

  // `accountId` must be this object's own name: an object cannot be asked for another
  // account's token (the name decides which account's settings and secret are read).
  async token(accountId: string, stale: string | null): Promise<TokenOutcome> {
    if (!isObjectNamed(this.env, this.env.FEISHU_TOKENS, accountId, this.ctx.id)) {
      return { ok: false, retryable: false, retryAfterMs: null, error: "feishu token: asked for another account" };
    }
    if (stale !== null && this.cached?.token === stale) this.cached = null;
    const now = Date.now();
    if (this.cached && now < this.cached.refreshAt) return { ok: true, token: this.cached.token, expiresAt: this.cached.expiresAt };
    this.refreshing ??= this.refresh(accountId).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refresh(accountId: string): Promise<TokenOutcome> {
    const got = await fetchTenantToken(this.env, accountId);
    if (got.ok) {
      this.cached = got.cached;
      return { ok: true, token: got.cached.token, expiresAt: got.cached.expiresAt };
    }
    // A failed refresh while the old token still has a minute: keep using it.
    const old = this.cached;
    if (old && Date.now() < old.expiresAt - 60_000) return { ok: true, token: old.token, expiresAt: old.expiresAt };
    return got;
  }
}
