// The console's only way to the Worker: same-origin fetches to /console/session and /admin (the
// same admin API the CLI and curl use). The session cookie is httpOnly, so nothing here ever holds
// a credential; every request carries the console header the Worker's CSRF check requires.

export interface Session {
  sub: string;
  role: "owner" | "admin" | "viewer";
  tenant: string | null;
  region: string | null;
  expires_at: string;
}

// One row of GET /admin/usage (the usage rollups); the group_by columns asked for are present.
export interface UsageRow {
  bucket_start: string;
  tenant_id?: string | null;
  provider?: string | null;
  model?: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  latency_sum_ms: number;
  latency_avg_ms: number | null;
  // Estimated by the API from the rollups' latency histogram (per row; they do not add up).
  latency_p50_ms?: number | null;
  latency_p99_ms?: number | null;
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "x-edgeclaw-console": "1", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!res.ok) {
    const err = json?.error;
    if (res.status === 401) window.dispatchEvent(new Event("console:signed-out"));
    throw new ApiFailure(res.status, err?.code ?? "error", err?.message ?? `HTTP ${res.status}`);
  }
  return json as T;
}

export const api = {
  session: () => call<Session>("GET", "/console/session"),
  signIn: (token: string) => call<Session>("POST", "/console/session", { token }),
  signOut: () => call<void>("POST", "/console/session/end"),
  get: <T>(path: string, query: Record<string, string | undefined> = {}) => {
    const qs = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== "")).toString();
    return call<T>("GET", `/admin${path}${qs ? `?${qs}` : ""}`);
  },
  post: <T>(path: string, body: unknown) => call<T>("POST", `/admin${path}`, body),
  put: <T>(path: string, body: unknown) => call<T>("PUT", `/admin${path}`, body),
  patch: <T>(path: string, body: unknown) => call<T>("PATCH", `/admin${path}`, body),
  del: <T>(path: string) => call<T>("DELETE", `/admin${path}`),
};

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// A page's write action: clears the old error and notice, runs `what`, re-reads the page's lists
// (so the notice never describes a stale table), then shows what `what` said, or the error.
export function runner(reload: () => Promise<void>, setError: (e: string | null) => void, setNotice: (n: string | null) => void) {
  return async (what: () => Promise<string>): Promise<void> => {
    setError(null);
    setNotice(null);
    try {
      const text = await what();
      await reload();
      setNotice(text);
    } catch (e) {
      setError(message(e));
    }
  };
}

export function canWrite(session: Session): boolean {
  return session.role !== "viewer";
}
