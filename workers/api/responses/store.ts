// Stored responses, per tenant: the tenant's ResponseStore object (tenant:<id>, from the
// credential only, so another tenant's id is simply not there) keeps each stored response with
// the input items it answered. A previous_response_id rebuilds the conversation from that chain:
// every link's input items, then its output items, oldest first.
//
// Bounds (what grows is bounded; the store evicts its oldest responses past them):
//   TTL                 30 days, as OpenAI keeps responses
//   per tenant          512 Mi characters and 100,000 responses
//   chain               1,000 responses and 16 Mi characters rebuilt per request; past them a
//                       request with truncation "auto" keeps the newest part of the conversation
//                       (OpenAI's truncation drops the oldest items), "disabled" (the default)
//                       is a 400
// A link that is gone (deleted, evicted, expired) ends the chain there: the conversation starts
// after it.
import type { Chain } from "../../../durable-objects/response-store.ts";
import type { InputItem } from "../../../schema/responses.ts";
import type { Env } from "../../env.ts";
import { ApiError } from "../../http/errors.ts";
import type { ResponseObject } from "./shape.ts";
import type { ConversationItem } from "./to-chat.ts";
import { objectNamed } from "../../regions/objects.ts";

export const RESPONSE_TTL_MS = 30 * 86_400_000;
export const TENANT_LIMITS = { maxBytes: 512 * 1024 * 1024, maxCount: 100_000 };
export const CHAIN_LIMITS = { maxLinks: 1_000, maxBytes: 16 * 1024 * 1024 };

// What is kept of one response.
export interface StoredResponse {
  response: ResponseObject;
  input: InputItem[];
}

function storeOf(env: Env, tenantId: string) {
  return objectNamed(env, env.RESPONSES, `tenant:${tenantId}`);
}

// Resolves once the record is durable: the caller answers (or sends response.completed) after.
export async function saveResponse(env: Env, tenantId: string, stored: StoredResponse): Promise<void> {
  const now = Date.now();
  await storeOf(env, tenantId).put(
    {
      id: stored.response.id,
      prev: (stored.response.previous_response_id as string | null) ?? null,
      createdAt: now,
      expiresAt: now + RESPONSE_TTL_MS,
      json: JSON.stringify(stored),
    },
    TENANT_LIMITS,
  );
}

export async function loadResponse(env: Env, tenantId: string, id: string): Promise<StoredResponse | null> {
  const json = await storeOf(env, tenantId).get(id);
  return json === null ? null : (JSON.parse(json) as StoredResponse);
}

export function deleteResponse(env: Env, tenantId: string, id: string): Promise<boolean> {
  return storeOf(env, tenantId).remove(id);
}

// The conversation before a request that names previous_response_id, oldest item first.
export async function conversationBefore(
  env: Env,
  tenantId: string,
  previousId: string,
  truncation: "auto" | "disabled",
  limits = CHAIN_LIMITS,
): Promise<ConversationItem[]> {
  const chain: Chain = await storeOf(env, tenantId).chain(previousId, limits.maxLinks, limits.maxBytes);
  if (!chain.found) {
    throw new ApiError(400, "previous_response_not_found", `Previous response with id '${previousId}' not found.`, { param: "previous_response_id" });
  }
  if (chain.limited && (truncation === "disabled" || chain.records.length === 0)) {
    throw new ApiError(
      400,
      "context_length_exceeded",
      `The conversation ending at '${previousId}' is longer than this gateway rebuilds (${limits.maxLinks} responses, ${limits.maxBytes} characters): start a new one, or send truncation: "auto" to drop its oldest responses.`,
      { param: "previous_response_id" },
    );
  }
  const items: ConversationItem[] = [];
  for (const json of chain.records) {
    const { response, input } = JSON.parse(json) as StoredResponse;
    items.push(...input, ...response.output);
  }
  return items;
}
