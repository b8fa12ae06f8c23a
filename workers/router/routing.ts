// A tenant's compiled routing: its router config (versioned in D1) turned into trees of targets
// with stable path ids, plus an implicit one-target route for every catalog model the config
// does not name. Cached in the isolate; the hot path waits on D1 only when the isolate has no
// entry for the tenant at all:
//   checked < CONFIG_REFRESH_MS ago   served as is
//   older                             served, and the head version is checked in the background
// So while traffic flows a change lands within CONFIG_REFRESH_MS plus one D1 read; after an idle
// gap the first request still gets the cached tree (and starts the check), never a D1 wait.
// A version check is one indexed read of route_config_heads; only a changed version (or a
// catalog older than CACHE_TTL_MS) reloads, also in the background. In-flight requests keep the
// tree they started with, so a switch never fails a request.
import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { providerKinds, type ModelKind } from "../../schema/admin.ts";
import { providers } from "../../schema/db.ts";
import { parseStoredReplicas } from "../../schema/provider-replicas.ts";
import {
  breakerSettings,
  retrySettings,
  routerConfig,
  storedRouterConfig,
  type BreakerSettings,
  type Condition,
  type ErrorClass,
  type RetrySettings,
  type Route,
  type RouteNode,
  type RouterConfig,
  type TargetNode,
} from "../../schema/route-config.ts";
import { routeConfigHeads, routeConfigVersions } from "../../schema/router.ts";
import { database } from "../db.ts";
import { settings, type Env } from "../env.ts";
import { loadCatalog, onCatalogChange, type ProviderInfo } from "./catalog.ts";

export type { ProviderInfo };

export interface CompiledReplica {
  id: string;
  baseUrl: string;
  metricsUrl: string | null;
}

export interface CompiledTarget {
  kind: "target";
  path: string;
  weight: number;
  node: TargetNode;
  // Null when the provider was revoked after the config was saved: the target is unavailable.
  provider: ProviderInfo | null;
  // Null: the provider's base_url. Empty: the target names replicas its provider does not declare.
  replicas: CompiledReplica[] | null;
  contextWindow: number | null;
  inputPrice: number;
  outputPrice: number;
}

export interface CompiledGroup {
  kind: "weighted" | "fallback";
  path: string;
  weight: number;
  on: ReadonlySet<ErrorClass>;
  children: CompiledNode[];
}

export interface CompiledConditional {
  kind: "conditional";
  path: string;
  weight: number;
  rules: { when: Condition; node: CompiledNode }[];
  otherwise: CompiledNode;
}

export type CompiledNode = CompiledTarget | CompiledGroup | CompiledConditional;

export interface CompiledRoute {
  name: string;
  // Which endpoints may call it (chat: chat and text completions; embedding: /v1/embeddings).
  // An implicit route has its model's kind; a configured one is an embedding route when its
  // targets name catalog embedding models and no catalog chat model (targets the catalog does not
  // list say nothing either way).
  kind: ModelKind;
  root: CompiledNode;
  cache: Route["cache"];
  retry: RetrySettings;
  breaker: BreakerSettings;
  firstByteMs: number | null;
  defaultMaxTokens: number;
  // See drop_params / strict_params in schema/route-config.ts.
  dropParams: boolean;
  strictParams: boolean;
  // When the name came to be what it is (ms): the catalog model's creation, or for a route of
  // the router config, the creation of the config version that defines it now.
  createdAt: number;
  // The highest prices in the tree: what a call is reserved at before its target is known.
  maxInputPrice: number;
  maxOutputPrice: number;
  targets: CompiledTarget[];
}

export interface TenantRouting {
  version: number;
  // When the active config version was saved (ms; 0 without one).
  versionCreatedAt: number;
  config: RouterConfig;
  routes: ReadonlyMap<string, CompiledRoute>;
}

const ALL_CLASSES: ErrorClass[] = ["rate_limited", "server_error", "timeout", "connection", "context_length", "content_policy"];
const DEFAULT_MAX_TOKENS = 4096;
const kind = z.enum(providerKinds);

export function compileRouting(
  version: number,
  config: RouterConfig,
  providerRows: ProviderInfo[],
  catalog: Awaited<ReturnType<typeof loadCatalog>>,
  versionCreatedAt = 0,
): TenantRouting {
  const byName = new Map(providerRows.map((p) => [p.name, p]));
  const prices = new Map<string, { input: number; output: number; contextWindow: number | null; kind: ModelKind }>();
  for (const m of catalog.values()) {
    prices.set(`${m.provider.name}\n${m.upstreamModel}`, { input: m.inputPricePerMtok, output: m.outputPricePerMtok, contextWindow: m.contextWindow, kind: m.kind });
  }
  const routes = new Map<string, CompiledRoute>();
  const defaults = { breaker: config.breaker ?? breakerSettings.parse({}), retry: config.retry ?? retrySettings.parse({}) };

  const build = (name: string, route: Route, createdAt: number): CompiledRoute => {
    const targets: CompiledTarget[] = [];
    const kinds = new Set<ModelKind>();
    const compile = (node: RouteNode, path: string): CompiledNode => {
      const weight = node.weight ?? 1;
      if (node.type === "target") {
        const known = prices.get(`${node.provider}\n${node.model}`);
        if (known) kinds.add(known.kind);
        const provider = byName.get(node.provider) ?? null;
        const target: CompiledTarget = {
          kind: "target",
          path,
          weight,
          node,
          provider,
          replicas: provider ? replicasOf(provider, node.replicas) : null,
          contextWindow: node.context_window ?? known?.contextWindow ?? null,
          inputPrice: node.input_price_per_mtok ?? known?.input ?? 0,
          outputPrice: node.output_price_per_mtok ?? known?.output ?? 0,
        };
        targets.push(target);
        return target;
      }
      if (node.type === "conditional") {
        return {
          kind: "conditional",
          path,
          weight,
          rules: node.rules.map((r, i) => ({ when: r.when, node: compile(r.node, `${path}/${r.node.id ?? i}`) })),
          otherwise: compile(node.default, `${path}/${node.default.id ?? "default"}`),
        };
      }
      return {
        kind: node.type,
        path,
        weight,
        on: new Set(node.on ?? ALL_CLASSES),
        children: node.children.map((child, i) => compile(child, `${path}/${child.id ?? i}`)),
      };
    };
    const root = compile(route.tree, name);
    return {
      name,
      kind: kinds.has("embedding") && !kinds.has("chat") ? "embedding" : "chat",
      root,
      cache: route.cache,
      retry: route.retry ?? defaults.retry,
      breaker: route.breaker ?? defaults.breaker,
      firstByteMs: route.first_byte_timeout_ms ?? null,
      defaultMaxTokens: route.default_max_tokens ?? DEFAULT_MAX_TOKENS,
      dropParams: route.drop_params ?? config.drop_params ?? true,
      strictParams: route.strict_params ?? config.strict_params ?? false,
      createdAt,
      maxInputPrice: Math.max(0, ...targets.map((t) => t.inputPrice)),
      maxOutputPrice: Math.max(0, ...targets.map((t) => t.outputPrice)),
      targets,
    };
  };

  for (const m of catalog.values()) {
    const implicit = build(m.publicName, { tree: { type: "target", provider: m.provider.name, model: m.upstreamModel } }, m.createdAt);
    // The model's own kind, even if another catalog entry names the same upstream model.
    implicit.kind = m.kind;
    routes.set(m.publicName, implicit);
  }
  for (const [name, route] of Object.entries(config.routes)) routes.set(name, build(name, route, versionCreatedAt));
  return { version, versionCreatedAt, config, routes };
}

// A target's replicas: the provider's declared ones, narrowed to the ids the target names. URLs
// only ever come from the provider row, so a route config cannot send the credential anywhere
// its owner did not approve; an id the provider does not declare (a stale or forged config)
// yields no replica for it, and a target left with none is unavailable ([]). Null: no replicas,
// requests go to the provider's base_url.
function replicasOf(provider: ProviderInfo, ids: string[] | undefined): CompiledReplica[] | null {
  if (provider.replicas.length === 0 && ids === undefined) return null;
  const chosen = ids === undefined ? provider.replicas : provider.replicas.filter((r) => ids.includes(r.id));
  return chosen.map((r) => ({ id: r.id, baseUrl: r.base_url, metricsUrl: r.metrics_url ?? null }));
}

// Every replica id a config names per provider (checked against the providers' declared ones on save).
export function replicaRefs(config: RouterConfig): { provider: string; replica: string }[] {
  const refs: { provider: string; replica: string }[] = [];
  const visit = (node: RouteNode) => {
    if (node.type === "target") for (const r of node.replicas ?? []) refs.push({ provider: node.provider, replica: r });
    else if (node.type === "conditional") {
      node.rules.forEach((r) => visit(r.node));
      visit(node.default);
    } else node.children.forEach(visit);
  };
  for (const route of Object.values(config.routes)) visit(route.tree);
  return refs;
}

// Every provider name a config refers to (checked against the tenant's providers on save).
export function providerNames(config: RouterConfig): Set<string> {
  const names = new Set<string>();
  const visit = (node: RouteNode) => {
    if (node.type === "target") names.add(node.provider);
    else if (node.type === "conditional") {
      node.rules.forEach((r) => visit(r.node));
      visit(node.default);
    } else node.children.forEach(visit);
  };
  for (const route of Object.values(config.routes)) visit(route.tree);
  return names;
}

export async function liveProviders(d1: D1Database, tenantId: string): Promise<ProviderInfo[]> {
  const rows = await database(d1)
    .select()
    .from(providers)
    .where(and(eq(providers.tenantId, tenantId), isNull(providers.revokedAt)));
  return rows.flatMap((r) => {
    const k = kind.safeParse(r.kind);
    return k.success
      ? [{ id: r.id, name: r.name, kind: k.data, baseUrl: r.baseUrl, credentialRef: r.credentialRef, timeoutMs: r.timeoutMs, replicas: parseStoredReplicas(r.replicas) }]
      : [];
  });
}

export async function headVersion(d1: D1Database, tenantId: string): Promise<number> {
  const head = await database(d1).select({ version: routeConfigHeads.version }).from(routeConfigHeads).where(eq(routeConfigHeads.tenantId, tenantId)).get();
  return head?.version ?? 0;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // undefined fails routerConfig's parse, which the caller already handles.
    return undefined;
  }
}

async function loadRouting(d1: D1Database, tenantId: string): Promise<TenantRouting> {
  const db = database(d1);
  const [version, providerRows, catalog] = await Promise.all([headVersion(d1, tenantId), liveProviders(d1, tenantId), loadCatalog(d1, tenantId)]);
  let config: RouterConfig = routerConfig.parse({});
  let createdAt = 0;
  if (version > 0) {
    const row = await db
      .select({ config: routeConfigVersions.config, createdAt: routeConfigVersions.createdAt })
      .from(routeConfigVersions)
      .where(and(eq(routeConfigVersions.tenantId, tenantId), eq(routeConfigVersions.version, version)))
      .get();
    // Stored documents were validated on save; a newer deployment's document this one cannot
    // read (or a corrupt row) falls back to the catalog's implicit routes instead of failing
    // every request of the tenant.
    const parsed = storedRouterConfig.safeParse(row ? parseJson(row.config) : {});
    if (parsed.success) {
      config = parsed.data;
      createdAt = row?.createdAt ?? 0;
    } else console.warn(JSON.stringify({ level: "warn", msg: "stored router config unreadable, using implicit routes", tenantId, version }));
  }
  return compileRouting(version, config, providerRows, catalog, createdAt);
}

interface Entry {
  routing: TenantRouting;
  loadedAt: number;
  checkedAt: number;
  checking?: Promise<void>;
}

const entries = new Map<string, Entry>();
const loading = new Map<string, Promise<Entry>>();
const MAX_TENANTS = 1_000;
// Bumped whenever a tenant's entry is forgotten: a load that started before must not put the old
// version back into the cache (it still answers the requests that were waiting on it).
let generation = 0;

function forget(tenantId: string): void {
  generation++;
  entries.delete(tenantId);
  loading.delete(tenantId);
}

onCatalogChange(forget);

function load(env: Env, tenantId: string): Promise<Entry> {
  let pending = loading.get(tenantId);
  if (!pending) {
    const started = generation;
    const promise: Promise<Entry> = loadRouting(env.DB, tenantId)
      .then((routing) => {
        const now = Date.now();
        const entry: Entry = { routing, loadedAt: now, checkedAt: now };
        if (started === generation) {
          if (entries.size >= MAX_TENANTS && !entries.has(tenantId)) entries.delete(entries.keys().next().value as string);
          entries.set(tenantId, entry);
        }
        return entry;
      })
      .finally(() => {
        // A forget may have started a newer load under this key meanwhile: leave that one.
        if (loading.get(tenantId) === promise) loading.delete(tenantId);
      });
    loading.set(tenantId, promise);
    pending = promise;
  }
  return pending;
}

function check(env: Env, tenantId: string, entry: Entry): Promise<void> {
  entry.checking ??= (async () => {
    const catalogTtl = settings(env).cacheTtlMs;
    const version = await headVersion(env.DB, tenantId);
    if (version !== entry.routing.version || Date.now() - entry.loadedAt > catalogTtl) await load(env, tenantId);
    else entry.checkedAt = Date.now();
  })().finally(() => {
    entry.checking = undefined;
  });
  return entry.checking;
}

const REVOCATION_GRACE_MS = 5_000;

export async function routingFor(env: Env, tenantId: string, waitUntil: (p: Promise<unknown>) => void): Promise<TenantRouting> {
  const entry = entries.get(tenantId);
  if (!entry) return (await load(env, tenantId)).routing;
  const { cacheTtlMs, configRefreshMs } = settings(env);
  // Under traffic the background check reloads the catalog before it is a TTL old. An isolate
  // that sat idle longer than that waits once, so a revoked provider or model never serves
  // after TTL + REVOCATION_GRACE_MS.
  if (Date.now() - entry.loadedAt > cacheTtlMs + REVOCATION_GRACE_MS) {
    await check(env, tenantId, entry);
    return (entries.get(tenantId) ?? entry).routing;
  }
  if (Date.now() - entry.checkedAt >= configRefreshMs && !entry.checking) {
    // If D1 cannot answer, the config this isolate has is still the best it can do; the next
    // request after a failure tries again.
    waitUntil(check(env, tenantId, entry).catch((err: unknown) => console.error(JSON.stringify({ level: "warn", msg: "router config check failed", error: String(err) }))));
  }
  return entry.routing;
}

// The isolate that saved a config switches at once.
export function forgetRouting(tenantId: string): void {
  forget(tenantId);
}
