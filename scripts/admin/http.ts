// The admin API over HTTP: one request, its answer as text (and JSON when it is JSON), and the two
// ways a call fails: the API said no (ApiFailure: its status and error message), or nothing
// answered (NetworkFailure: what went wrong, and where).
import type { Method } from "./spec.ts";

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiResponse {
  status: number;
  contentType: string;
  headers: Headers;
  text: string;
  json: unknown; // undefined when the body is not JSON
}

export class ApiFailure extends Error {
  status: number;
  code: string | undefined;
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class NetworkFailure extends Error {}

const TIMEOUT_MS = 60_000;

export function requestUrl(base: string, path: string, query: Query = {}): string {
  let trimmed = base;
  while (trimmed.endsWith("/")) trimmed = trimmed.slice(0, -1);
  const url = new URL(`${trimmed}/admin${path}`);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
  return url.toString();
}

// Path segments are URL-encoded: session keys hold slashes, dead-letter ids a '#'.
export function fillPath(path: string, params: Record<string, string>): string {
  return path
    .split("/")
    .map((seg) => (seg.startsWith(":") ? encodeURIComponent(params[seg.slice(1)] ?? "") : seg))
    .join("/");
}

// region: sent as X-EdgeClaw-Region, which the global entry of a multi-region deployment needs for
// a token not bound to a region (docs/deploy.md).
export async function send(base: string, token: string, method: Method, path: string, query: Query = {}, body?: unknown, region?: string): Promise<ApiResponse> {
  const url = requestUrl(base, path, query);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...(region ? { "x-edgeclaw-region": region } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    throw new NetworkFailure(`cannot reach ${new URL(url).origin}: ${reason(err)}. Is the gateway running (\`npm start\`), and is --url / EDGECLAW_URL right?`);
  }
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? "";
  let json: unknown;
  if (contentType.includes("json")) {
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      json = undefined;
    }
  }
  if (!res.ok) {
    const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
    const message = typeof error?.message === "string" ? error.message : text.slice(0, 300) || res.statusText;
    throw new ApiFailure(res.status, typeof error?.code === "string" ? error.code : undefined, message);
  }
  return { status: res.status, contentType, headers: res.headers, text, json };
}

function reason(err: unknown): string {
  if (err instanceof Error && err.name === "TimeoutError") return `no answer within ${TIMEOUT_MS / 1000} s`;
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code === "ECONNREFUSED") return "connection refused";
  if (cause?.code === "ENOTFOUND") return "unknown host";
  return cause?.message ?? (err instanceof Error ? err.message : String(err));
}
