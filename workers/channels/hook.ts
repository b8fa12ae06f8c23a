// Inbound hooks: another system runs an agent turn with POST /hooks/agent.
//   verify  Authorization: Bearer ehk_<account id>.<secret>; D1 keeps the token's SHA-256
//   parse   { text, peer?, agent_id?, callback_url? } plus the Idempotency-Key header, which is
//           the dedupe key (a retried POST with the same key is the same run)
//   send    POST { id, status: "done", reply } to callback_url when the caller gave one;
//           otherwise the reply waits in the session for GET /hooks/agent/runs/<id>. The
//           callback URL passes the outbound-URL policy at intake (routes.ts, 400) and again
//           here before the fetch (refused: a dead letter, never a request)
import { hookBody, idempotencyKey } from "../../schema/channels.ts";
import { bearerToken } from "../http/api-key-auth.ts";
import { ApiError } from "../http/errors.ts";
import { parseOr400 } from "../http/validation.ts";
import { checkOutboundUrl } from "../security/outbound-url.ts";
import { httpFailure, networkFailure, secretMatches, SEND_TIMEOUT_MS } from "./secrets.ts";
import { deliveryJson } from "./delivery-json.ts";
import type { ChannelAdapter } from "./types.ts";

export const HOOK_TOKEN_PREFIX = "ehk_";

// The account a hook token names (ehk_<account id>.<secret>), so it can be found without a scan.
export function hookAccountOf(token: string | null | undefined): string | null {
  if (!token?.startsWith(HOOK_TOKEN_PREFIX)) return null;
  const rest = token.slice(HOOK_TOKEN_PREFIX.length);
  const cut = rest.indexOf(".");
  return cut > 0 && cut <= 64 ? rest.slice(0, cut) : null;
}

export const hook: ChannelAdapter = {
  channel: "hook",
  maxTextLength: 100_000,
  minSendIntervalMs: 0,

  verify(delivery, account) {
    return secretMatches(bearerToken(delivery.headers.get("authorization") ?? undefined), account.secretHash);
  },

  parse(delivery, account, now) {
    const json = deliveryJson(delivery, "body");
    const body = parseOr400(hookBody, json);
    const key = delivery.headers.get("idempotency-key");
    if (key === null) throw new ApiError(400, "missing_idempotency_key", "The Idempotency-Key header is required.");
    const id = parseOr400(idempotencyKey, key);
    const peer = body.peer ?? "default";
    return {
      tenantId: account.tenantId,
      channel: "hook",
      accountId: account.id,
      peerId: peer,
      groupId: null,
      threadId: null,
      chatId: peer,
      messageId: id,
      replyToId: null,
      text: body.text,
      command: null,
      sender: { id: peer, name: null },
      attachments: [],
      callbackUrl: body.callback_url ?? null,
      receivedAt: now,
    };
  },

  async send(intent, _account, ctx) {
    if (!intent.callbackUrl) return { ok: true, receipt: "poll" };
    const verdict = checkOutboundUrl(ctx.env, intent.callbackUrl);
    if (!verdict.ok) return { ok: false, retryable: false, retryAfterMs: null, error: `callback_url refused: ${verdict.reason}` };
    let res: Response;
    try {
      res = await fetch(intent.callbackUrl, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": intent.key },
        body: JSON.stringify({ id: intent.inReplyTo, status: "done", reply: intent.text }),
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
        // A redirect could lead to an address the outbound-URL policy refused: not followed.
        redirect: "manual",
      });
      await res.body?.cancel();
    } catch (err) {
      return networkFailure(err);
    }
    if (res.ok) return { ok: true, receipt: `callback:${res.status}` };
    const retryAfter = Number(res.headers.get("retry-after"));
    return httpFailure(res.status, `callback answered ${res.status}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : null);
  },
};
