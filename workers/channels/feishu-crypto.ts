// The Feishu / Lark webhook's two protections, both keyed by the app's Encrypt Key
// (https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/encrypt-key-encryption-configuration-case):
//   signature  X-Lark-Signature = hex SHA-256(X-Lark-Request-Timestamp + X-Lark-Request-Nonce +
//              Encrypt Key + raw body). A plain hash, not an HMAC (Feishu's choice); it still
//              cannot be made without the key. Compared in constant time; a timestamp more than
//              5 minutes off is a replay and refused, as Slack's
//   encryption {"encrypt": base64(iv[16] + AES-256-CBC(PKCS#7) ciphertext)}, key = SHA-256(Encrypt
//              Key). WebCrypto's AES-CBC removes and checks the padding (a bad pad throws)
// The Request URL check (url_verification) is the one request Feishu sends without the signature
// headers (the official SDK answers it before checking any signature): it is accepted unsigned
// only when it is small and decrypts with the Encrypt Key to a complete url_verification (the
// schema handshake answers, so an unsigned delivery can never reach parse), and is answered with
// its challenge and nothing recorded. Every other unsigned request gets the same 401, whatever
// failed (padding, UTF-8, JSON, type): AES-CBC has no MAC, and an answer telling bad padding from
// bad JSON would be a padding oracle on the app's Encrypt Key.
import { feishuEncryptedBody, feishuUrlVerification } from "../../schema/feishu.ts";
import { resolveSecret } from "../auth/secrets.ts";
import { toHex } from "../auth/encoding.ts";
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import type { Delivery, VerifiableAccount } from "./types.ts";
import { sameDigest } from "./secrets.ts";

const FEISHU_REPLAY_WINDOW_S = 300;
// An unsigned body longer than this is refused before any decryption. Feishu's check is
// {"encrypt"} of ~100 bytes of JSON (about 250 characters); the bound keeps unauthenticated
// requests from costing a megabyte of SHA-256/AES each and from timing a long decryption.
const FEISHU_MAX_UNSIGNED_BODY = 4_096;

const encoder = new TextEncoder();
const TIMESTAMP = /^\d{1,12}$/;
// Feishu's nonces are short random strings; any printable ASCII without spaces, bounded.
const NONCE = /^[\x21-\x7e]{1,128}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

// The Encrypt Key verify read, for open to decrypt the same delivery with (one vault lookup per
// delivery, and no window in which verify saw the key and open does not).
const verifiedKey = new WeakMap<Delivery, string>();

async function feishuSignature(timestamp: string, nonce: string, encryptKey: string, body: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(timestamp + nonce + encryptKey + body))));
}

// The Encrypt Key in the account's own tenant; null when it is not configured (logged, refused).
async function encryptKeyOf(env: Env, account: VerifiableAccount): Promise<string | null> {
  const secret = await resolveSecret(env, account.tenantId, account.signingSecretRef, "FEISHU_");
  if (secret.ok) return secret.value;
  // Feishu retries a failed delivery: worth it when the vault is only unreachable.
  if (secret.code === "vault_unavailable") throw new ApiError(503, "vault_unavailable", "The Encrypt Key cannot be read right now; try again.");
  console.warn(JSON.stringify({ level: "warn", msg: "feishu encrypt key unusable", account: account.id, reason: secret.message }));
  return null;
}

// The plaintext of {"encrypt": ...}, or an ApiError(400) naming what is wrong with it.
async function feishuDecrypt(body: string, encryptKey: string): Promise<string> {
  let outer: unknown;
  try {
    outer = JSON.parse(body);
  } catch {
    throw new ApiError(400, "invalid_json", "The webhook body is not JSON.");
  }
  const parsed = feishuEncryptedBody.safeParse(outer);
  if (!parsed.success) throw new ApiError(400, "invalid_request", "The webhook body must be {\"encrypt\": \"...\"}: set an Encrypt Key for the app's events.");
  const text = parsed.data.encrypt;
  if (!BASE64.test(text) || text.length % 4 !== 0) throw new ApiError(400, "invalid_request", "encrypt is not base64.");
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    throw new ApiError(400, "invalid_request", "encrypt is not base64.");
  }
  // An IV and at least one block, and whole blocks.
  if (bytes.length < 32 || bytes.length % 16 !== 0) throw new ApiError(400, "invalid_request", "encrypt is not an IV and whole AES blocks.");
  const keyBytes = await crypto.subtle.digest("SHA-256", encoder.encode(encryptKey));
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "AES-CBC" }, false, ["decrypt"]);
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt({ name: "AES-CBC", iv: bytes.slice(0, 16) }, key, bytes.slice(16));
  } catch {
    // Bad padding: another key, or a damaged message.
    throw new ApiError(400, "invalid_request", "encrypt does not decrypt with this app's Encrypt Key.");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(plain);
  } catch {
    throw new ApiError(400, "invalid_request", "encrypt does not decrypt to UTF-8 text.");
  }
}

type SignatureHeaders = { state: "absent" } | { state: "malformed" } | { state: "present"; timestamp: string; nonce: string; signature: string };

function signatureHeaders(headers: Headers): SignatureHeaders {
  const timestamp = headers.get("x-lark-request-timestamp");
  const nonce = headers.get("x-lark-request-nonce");
  const signature = headers.get("x-lark-signature");
  if (timestamp === null && nonce === null && signature === null) return { state: "absent" };
  if (timestamp === null || nonce === null || signature === null) return { state: "malformed" };
  if (!TIMESTAMP.test(timestamp) || !NONCE.test(nonce) || !SIGNATURE.test(signature.toLowerCase())) return { state: "malformed" };
  return { state: "present", timestamp, nonce, signature: signature.toLowerCase() };
}

// True: a signed delivery with a fresh timestamp and the right signature, or an unsigned one
// that decrypts to the Request URL check. A malformed body of an unsigned request is refused
// here (401) rather than answered 400: nothing proves it came from Feishu.
export async function feishuVerify(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<boolean> {
  const h = signatureHeaders(delivery.headers);
  if (h.state === "malformed") return false;
  if (h.state === "present" && Math.abs(Date.now() / 1000 - Number(h.timestamp)) > FEISHU_REPLAY_WINDOW_S) return false;
  const encryptKey = await encryptKeyOf(env, account);
  if (encryptKey === null) return false;
  verifiedKey.set(delivery, encryptKey);
  if (h.state === "present") return sameDigest(await feishuSignature(h.timestamp, h.nonce, encryptKey, delivery.body), h.signature);
  if (delivery.body.length > FEISHU_MAX_UNSIGNED_BODY) return false;
  // One answer (false) for every failure below: see the header on padding oracles.
  try {
    return feishuUrlVerification.safeParse(JSON.parse(await feishuDecrypt(delivery.body, encryptKey))).success;
  } catch {
    return false;
  }
}

// The verified delivery with its body decrypted: what handshake and parse read.
export async function feishuOpen(delivery: Delivery, account: VerifiableAccount, env: Env): Promise<Delivery> {
  const encryptKey = verifiedKey.get(delivery) ?? (await encryptKeyOf(env, account));
  if (encryptKey === null) throw new ApiError(401, "invalid_signature", "The app's Encrypt Key is not configured.");
  return { ...delivery, body: await feishuDecrypt(delivery.body, encryptKey) };
}
