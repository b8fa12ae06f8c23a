// The JSON of a delivery (a webhook body, a hook request, a WebChat frame), for every adapter's
// parse: not JSON is a 400, and so is a body nested or sprawling past the shared bounds (a
// platform's free-form parts, such as Slack's blocks or Discord's embeds, pass through schemas
// unchecked, so the bounds are checked on the whole body first). `what` names it in the error.
import { jsonBoundsFailure, MAX_BODY_DEPTH } from "../../schema/json-bounds.ts";
import { ApiError } from "../http/errors.ts";
import type { Delivery } from "./types.ts";

export function deliveryJson(delivery: Delivery, what: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(delivery.body);
  } catch {
    throw new ApiError(400, "invalid_json", `The ${what} is not JSON.`);
  }
  const failure = jsonBoundsFailure(json, MAX_BODY_DEPTH);
  if (failure) throw new ApiError(400, "invalid_request", `The ${what} ${failure.message}.`);
  return json;
}
