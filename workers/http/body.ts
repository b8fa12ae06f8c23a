// Reads a JSON request body with a hard size limit: 413 before buffering more than the limit
// (by Content-Length when given, by counting bytes otherwise), 400 when it is not JSON.
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { joinChunks, readUpTo } from "./bounded-read.ts";
import { ApiError } from "./errors.ts";

export async function readJsonBody(c: Context<AppEnv>, maxBytes: number): Promise<unknown> {
  const bytes = await readBodyBytes(c, maxBytes);
  if (!bytes) throw invalidJson();
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw invalidJson();
  }
}

// The raw body (for signatures computed over the exact bytes), with the same size limit; null
// when there is none.
export async function readBodyBytes(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array | null> {
  const tooLarge = () =>
    new ApiError(413, "request_too_large", `Request body exceeds the limit of ${maxBytes} bytes.`);
  const length = c.req.header("content-length")?.trim();
  const declared = length ? Number(length) : NaN;
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();

  const body = c.req.raw.body;
  if (!body) return null;
  // With a Content-Length the runtime will not deliver more than it says, so the body can be
  // taken in one native read (one call instead of a JavaScript loop awaiting every chunk).
  if (Number.isFinite(declared)) {
    return new Uint8Array(await c.req.raw.arrayBuffer());
  }
  const read = await readUpTo(body, maxBytes);
  if (read.over) throw tooLarge();
  return joinChunks(read);
}

function invalidJson(): ApiError {
  return new ApiError(
    400,
    "invalid_json",
    "We could not parse the JSON body of your request: send a JSON object with Content-Type: application/json.",
  );
}
