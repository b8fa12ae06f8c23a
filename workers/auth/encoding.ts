// Byte encodings and digests shared by keys, tokens, ids, signatures and cache keys. Web Crypto
// only, so it runs in workerd and in Node (scripts/ seed keys with the same functions).
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

export async function sha256Hex(text: string): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

// Padded standard base64 (RFC 4648 §4) of raw bytes.
export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

// Unpadded base64url (RFC 4648 §5) of raw bytes, or of a string's UTF-8 bytes.
export function base64url(input: Uint8Array | string): string {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/(^|[^=])=+$/, "$1");
}
