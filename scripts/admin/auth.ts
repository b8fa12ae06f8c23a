// Where the CLI's base URL and admin token come from: --url / EDGECLAW_URL (default the local
// `npm start` address), --token / EDGECLAW_ADMIN_TOKEN, and, when neither token is given, a
// short-lived owner token minted in memory with the ADMIN_JWT_SECRET of the local secrets file
// (.dev.vars, or EDGECLAW_DEV_VARS), so `npm run admin -- tenants list` works right after
// `npm start`; only for a loopback URL. The minted token is never printed.
import { resolve } from "node:path";
import { readDevVars } from "../dev-vars.ts";
import type { Io } from "./io.ts";
import { UsageError } from "./spec.ts";

export const DEFAULT_URL = "http://127.0.0.1:8787";
// Long enough for one command (a slow report), short enough to be worthless if it leaked.
export const AUTO_TOKEN_TTL_S = 300;
// workers/auth/admin-token.ts's minimum, here so that reading it does not load the signing code
// (jose, zod: most of a command's start-up time) for commands that never sign.
export const MIN_SECRET_LENGTH = 32;

export function baseUrl(io: Io, flag: string | undefined): string {
  return flag ?? io.env.EDGECLAW_URL ?? DEFAULT_URL;
}

export function devVarsPath(io: Io): string {
  return resolve(io.cwd, io.env.EDGECLAW_DEV_VARS ?? ".dev.vars");
}

// The signing secret: ADMIN_JWT_SECRET from the environment, else from the local secrets file.
export function localSecret(io: Io): string | undefined {
  const secret = io.env.ADMIN_JWT_SECRET ?? readDevVars(devVarsPath(io)).ADMIN_JWT_SECRET;
  return secret && secret.length >= MIN_SECRET_LENGTH ? secret : undefined;
}

// Only a gateway on this machine gets a minted token: a token signed with this machine's secret
// (which may be a deployment's, in ADMIN_JWT_SECRET) sent to a --url someone else runs would be an
// owner token handed to them.
export function isLoopbackUrl(url: string): boolean {
  try {
    const { hostname } = new URL(url);
    return hostname === "127.0.0.1" || hostname === "localhost" || hostname === "[::1]";
  } catch {
    return false;
  }
}

export async function adminToken(io: Io, flag: string | undefined, url: string): Promise<string> {
  const given = flag ?? io.env.EDGECLAW_ADMIN_TOKEN;
  if (given) return given;
  if (!isLoopbackUrl(url)) {
    throw new UsageError(`no admin token for ${url}: pass --token or set EDGECLAW_ADMIN_TOKEN (a token is minted from the local secret only for a gateway on this machine)`, "npm run -s admin -- token --role owner   (mints one)");
  }
  const secret = localSecret(io);
  if (!secret) {
    throw new UsageError(
      `no admin token: pass --token, set EDGECLAW_ADMIN_TOKEN, or run \`npm start\` once so that ${devVarsPath(io)} holds ADMIN_JWT_SECRET`,
      "npm run -s admin -- token --role owner   (mints one)",
    );
  }
  const { mintAdminToken } = await import("../../workers/auth/admin-token.ts");
  return (await mintAdminToken(secret, { sub: io.env.USER ?? "admin-cli", role: "owner" }, AUTO_TOKEN_TTL_S)).token;
}
