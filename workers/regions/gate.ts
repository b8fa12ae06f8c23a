// The region gate, first after the request id (workers/app.ts): in a regional deployment a
// request whose credential or id names another region is forwarded to that region's Worker
// before anything here reads storage, and the global entry (GATEWAY_ROLE=entry), which has no
// storage at all, forwards everything. Forwarding goes through the REGION_<NAME> service binding:
// the request and the answer are passed on as streams (an SSE answer is relayed as it comes, a
// WebSocket upgrade is handed through), and the hop costs what test/bench/ measures.
// A single-region deployment (no REGION, no GATEWAY_ROLE) passes straight through.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { ApiError } from "../http/errors.ts";
import { regionOfRequest, type RegionClaim } from "./request-region.ts";
import { regionSettings, type RegionSettings } from "./settings.ts";

// Set on a forwarded request: it names the Worker that forwarded it. A request carrying it is
// never forwarded again (no loops, no ping-pong between two misconfigured regions). A client
// may set it too; that only stops its own request from being forwarded.
export const FORWARDED_HEADER = "x-edgeclaw-forwarded-from";

export function regionGate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const settings = regionSettings(c.env);
    if (!settings.entry && settings.self === null) return next();
    const path = c.req.path;
    if (settings.entry && path === "/health") return c.json({ status: "ok", role: "entry", regions: settings.regions });
    const claim = regionOfRequest(c.req.raw, path);
    if (claim === null) {
      if (settings.entry) throw noRegion(path, settings);
      return next();
    }
    if (!settings.regions.includes(claim.region)) throw unknownRegion(claim, settings);
    if (claim.region === settings.self) return next();
    if (c.req.header(FORWARDED_HEADER) !== undefined) {
      throw new ApiError(409, "misdirected_region", `This is the ${settings.self ?? "entry"} Worker; the ${claim.source} belongs to region '${claim.region}', and the request was already forwarded once.`);
    }
    const target = (c.env as unknown as Record<string, unknown>)[`REGION_${claim.region.toUpperCase()}`] as Fetcher | undefined;
    if (typeof target?.fetch !== "function") {
      throw new ApiError(502, "region_unreachable", `Region '${claim.region}' has no service binding REGION_${claim.region.toUpperCase()} here.`);
    }
    const forwarded = new Request(c.req.raw);
    forwarded.headers.set(FORWARDED_HEADER, settings.self ?? "entry");
    // The home Worker answers under the same request id, so both Workers' logs join up...
    forwarded.headers.set("x-request-id", c.get("requestId"));
    // ... and its trace continues under this Worker's span (not the client's), so the hop shows.
    const span = c.get("trace");
    if (span) forwarded.headers.set("traceparent", span.traceparent());
    return mutable(await target.fetch(forwarded));
  };
}

// A fetched Response has immutable headers, and the middleware before this one sets
// x-request-id on the way out: rewrap it without touching the body (still a stream) and keep a
// WebSocket upgrade's socket.
function mutable(response: Response): Response {
  if (response.webSocket) return new Response(null, { status: 101, webSocket: response.webSocket, headers: response.headers });
  return new Response(response.body, response);
}

// The global entry cannot serve anything itself: say what would let it forward.
function noRegion(path: string, settings: RegionSettings): ApiError {
  const regions = settings.regions.join(", ");
  if (path.startsWith("/v1/") || path === "/v1") {
    return new ApiError(401, "invalid_api_key", `This is the global entry: send a regional API key (sk-ec-<region>-..., regions: ${regions}).`);
  }
  if (path.startsWith("/admin/") || path === "/admin") {
    return new ApiError(400, "region_required", `This is the global entry: use an admin token minted with --region, or send X-EdgeClaw-Region (regions: ${regions}).`);
  }
  return new ApiError(404, "not_found", `This is the global entry and '${path}' names no region (regions: ${regions}).`);
}

function unknownRegion(claim: RegionClaim, settings: RegionSettings): ApiError {
  const message = `The ${claim.source} names region '${claim.region}', which this deployment does not have (regions: ${settings.regions.join(", ")}).`;
  if (claim.source === "api key") return new ApiError(401, "invalid_api_key", message);
  if (claim.source === "admin token" || claim.source === "hook token") return new ApiError(401, "unknown_region", message);
  if (claim.source === "tenant or object id") return new ApiError(404, "not_found", message);
  if (claim.source === "region header") return new ApiError(400, "unknown_region", message);
  return new ApiError(404, "not_found", message);
}
