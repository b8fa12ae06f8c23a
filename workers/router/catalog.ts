// A tenant's catalog: its enabled models, each with the provider that serves it, keyed by the
// public name clients send. Loaded with one D1 query; the only cache of it is the compiled
// routing (routing.ts), which admin writes drop through forgetCatalog.
import { and, eq, isNull } from "drizzle-orm";
import { z } from "zod";
import { modelKinds, providerKinds, type ModelKind, type ProviderKind } from "../../schema/admin.ts";
import { models, providers } from "../../schema/db.ts";
import { parseStoredReplicas, type ProviderReplica } from "../../schema/provider-replicas.ts";
import { database } from "../db.ts";

export interface RouteTarget {
  modelId: string;
  publicName: string;
  upstreamModel: string;
  // Which endpoints may call it: chat (chat and text completions) or embedding.
  kind: ModelKind;
  contextWindow: number | null;
  inputPricePerMtok: number;
  outputPricePerMtok: number;
  createdAt: number;
  provider: ProviderInfo;
}

export interface ProviderInfo {
  id: string;
  name: string;
  kind: ProviderKind;
  baseUrl: string;
  credentialRef: string | null;
  timeoutMs: number | null;
  // Declared on the provider row (owner-controlled for a deployment credential): the only URLs
  // besides baseUrl that the provider's credential is ever sent to.
  replicas: ProviderReplica[];
}

// A deployment-wide Worker secret (owner-attached), as opposed to none or the tenant's own.
export function isDeploymentCredential(ref: string | null): boolean {
  return ref !== null && ref.startsWith("PROVIDER_");
}

export type Catalog = ReadonlyMap<string, RouteTarget>;

const kind = z.enum(providerKinds);
const modelKind = z.enum(modelKinds);

// Caches built on the catalog (the router's compiled routes) register here to be dropped with it.
const dependents: ((tenantId: string) => void)[] = [];
export function onCatalogChange(forget: (tenantId: string) => void): void {
  dependents.push(forget);
}

export function forgetCatalog(tenantId: string): void {
  for (const forget of dependents) forget(tenantId);
}

export async function loadCatalog(d1: D1Database, tenantId: string): Promise<Catalog> {
  const rows = await database(d1)
    .select({
      modelId: models.id,
      publicName: models.publicName,
      upstreamModel: models.upstreamModel,
      modelKind: models.kind,
      contextWindow: models.contextWindow,
      inputPricePerMtok: models.inputPricePerMtok,
      outputPricePerMtok: models.outputPricePerMtok,
      createdAt: models.createdAt,
      providerId: providers.id,
      providerName: providers.name,
      kind: providers.kind,
      baseUrl: providers.baseUrl,
      credentialRef: providers.credentialRef,
      timeoutMs: providers.timeoutMs,
      replicas: providers.replicas,
    })
    .from(models)
    .innerJoin(providers, eq(providers.id, models.providerId))
    .where(and(eq(models.tenantId, tenantId), eq(models.enabled, true), isNull(providers.revokedAt)))
    .orderBy(models.publicName);
  const catalog = new Map<string, RouteTarget>();
  for (const row of rows) {
    const parsedKind = kind.safeParse(row.kind);
    const parsedModelKind = modelKind.safeParse(row.modelKind);
    // A row written by a newer deployment with a kind this one lacks is skipped, not fatal.
    if (!parsedKind.success || !parsedModelKind.success) continue;
    catalog.set(row.publicName, {
      modelId: row.modelId,
      publicName: row.publicName,
      upstreamModel: row.upstreamModel,
      kind: parsedModelKind.data,
      contextWindow: row.contextWindow,
      inputPricePerMtok: row.inputPricePerMtok,
      outputPricePerMtok: row.outputPricePerMtok,
      createdAt: row.createdAt,
      provider: {
        id: row.providerId,
        name: row.providerName,
        kind: parsedKind.data,
        baseUrl: row.baseUrl,
        credentialRef: row.credentialRef,
        timeoutMs: row.timeoutMs,
        replicas: parseStoredReplicas(row.replicas),
      },
    });
  }
  return catalog;
}
