// One outbound-URL policy for every URL a tenant admin or a hook caller supplies (provider base
// URLs, replica and metrics URLs, job webhook URLs, hook callback URLs). Checked when the URL is
// written (400 with the field) and again right before each fetch, so a row written some other way
// cannot reach what the policy refuses.
//
// Rules: https only; no credentials in the URL; no `localhost` (or *.localhost, *.local,
// *.internal); no IP literal in a loopback, private, link-local (cloud metadata lives at
// 169.254.169.254), CGNAT, multicast, unspecified or reserved range, for IPv4 and IPv6 (mapped
// and NAT64 forms included). The WHATWG URL parser has already normalised the decimal, octal and
// hex spellings of IPv4 (http://2130706433/ is 127.0.0.1) before we look at the host.
//
// The one exception is explicit and deployment-wide: OUTBOUND_ALLOW_HOSTS, a comma-separated
// list of hosts (`127.0.0.1`, `localhost:8788`) that may be reached over http and despite being
// private. `npm start` and the tests set it for their local fakes; production leaves it unset.
// Hostnames are not resolved here (Workers have no DNS API, and Cloudflare's edge does not route
// fetches to private networks); the policy stops literal addresses and local names.
import type { Env } from "../env.ts";
import { ApiError } from "../http/errors.ts";

export type OutboundVerdict = { ok: true; url: URL } | { ok: false; reason: string };

const LOCAL_NAMES = [/^localhost$/, /\.localhost$/, /\.local$/, /\.internal$/, /^metadata$/];

let parsedFor: string | undefined;
let parsedAllow: Set<string> = new Set();

function allowList(env: Env): Set<string> {
  const raw = env.OUTBOUND_ALLOW_HOSTS ?? "";
  if (raw !== parsedFor) {
    parsedFor = raw;
    parsedAllow = new Set(
      raw
        .split(",")
        .map((h) => h.trim().toLowerCase())
        .filter((h) => h.length > 0),
    );
  }
  return parsedAllow;
}

export function checkOutboundUrl(env: Env, raw: string): OutboundVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not a valid URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "credentials in the URL are not allowed" };
  const host = url.hostname.toLowerCase();
  const allow = allowList(env);
  if (allow.has(host) || allow.has(url.host.toLowerCase())) {
    if (url.protocol === "https:" || url.protocol === "http:") return { ok: true, url };
    return { ok: false, reason: "only http(s) URLs are allowed" };
  }
  if (url.protocol !== "https:") return { ok: false, reason: "only https URLs are allowed" };
  if (LOCAL_NAMES.some((re) => re.test(host)) || !host.includes(".") && !host.startsWith("[")) {
    return { ok: false, reason: `host '${host}' is a local name` };
  }
  const v4 = parseIPv4(host);
  if (v4 !== null) return blockedIPv4(v4) ? { ok: false, reason: `address ${host} is private or reserved` } : { ok: true, url };
  if (host.startsWith("[")) {
    const v6 = parseIPv6(host.slice(1, -1));
    if (v6 === null || blockedIPv6(v6)) return { ok: false, reason: `address ${host} is private or reserved` };
  }
  return { ok: true, url };
}

// For admin writes and hook bodies: 400 naming the field.
export function assertOutboundUrl(env: Env, raw: string, param: string): void {
  const verdict = checkOutboundUrl(env, raw);
  if (!verdict.ok) throw new ApiError(400, "url_not_allowed", `${param}: ${verdict.reason} (outbound-URL policy).`, { param });
}

function parseIPv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : null;
}

function blockedIPv4([a, b, c]: number[]): boolean {
  if (a === undefined || b === undefined || c === undefined) return true;
  return (
    a === 0 || // "this network", 0.0.0.0
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) || // CGNAT
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && (c === 0 || c === 2)) || // IETF protocol assignments 192.0.0.0/24, docs 192.0.2.0/24 (the rest of 192.0/16 is public)
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224 // multicast, reserved, broadcast
  );
}

// Eight 16-bit groups, or null when the text is not an IPv6 address the URL parser would emit.
function parseIPv6(text: string): number[] | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

function blockedIPv6(g: number[]): boolean {
  const [g0 = 0, , , , , g5 = 0, g6 = 0, g7 = 0] = g;
  const allZeroTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (allZeroTo(7) && (g7 === 0 || g7 === 1)) return true; // :: and ::1
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible, and NAT64 (64:ff9b::/96): judge the IPv4 inside.
  const embedded = [g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff];
  if (allZeroTo(5) && (g5 === 0xffff || g5 === 0)) return blockedIPv4(embedded);
  if (g0 === 0x64 && g[1] === 0xff9b) return blockedIPv4(embedded);
  if ((g0 & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((g0 & 0xff00) === 0xff00) return true; // multicast
  if (g0 === 0x2001 && g[1] === 0x0db8) return true; // documentation
  return false;
}
