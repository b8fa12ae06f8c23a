// AES-256-GCM sealing of one vault value. The additional data binds a ciphertext to the row it
// was written for: a fixed label, then the tenant id and the secret name, each prefixed with its
// UTF-8 length (4 bytes, big-endian), so no two (tenant, name) pairs encode alike ("a","bc" vs
// "ab","c"). A row copied to another tenant, renamed, or with one flipped byte fails the GCM tag
// check and opens to nothing.
import { base64 } from "../auth/encoding.ts";

export interface Sealed {
  iv: string;
  ciphertext: string;
}

const LABEL = "edgeclaw-vault-v1";
const IV_BYTES = 12;

export function additionalData(tenantId: string, name: string): Uint8Array<ArrayBuffer> {
  const parts = [LABEL, tenantId, name].map((s) => new TextEncoder().encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

export async function seal(key: CryptoKey, tenantId: string, name: string, value: string): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: additionalData(tenantId, name), tagLength: 128 },
    key,
    new TextEncoder().encode(value),
  );
  return { iv: base64(iv), ciphertext: base64(new Uint8Array(ct)) };
}

// The plaintext, or undefined when the row does not authenticate (tampered, moved, renamed,
// sealed under another key) or is not well-formed.
export async function open(key: CryptoKey, tenantId: string, name: string, sealed: Sealed): Promise<string | undefined> {
  const iv = fromBase64(sealed.iv);
  const ct = fromBase64(sealed.ciphertext);
  if (!iv || iv.length !== IV_BYTES || !ct || ct.length < 16) return undefined;
  try {
    const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: additionalData(tenantId, name), tagLength: 128 }, key, ct);
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(pt);
  } catch {
    return undefined;
  }
}

function fromBase64(text: string): Uint8Array<ArrayBuffer> | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
