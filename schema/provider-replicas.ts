// Replicas of a provider (self-hosted GPU servers behind one provider): declared on the provider
// row, next to the credential they receive, never in a tenant's route config. Only whoever may
// point the credential somewhere may declare them: an owner for a deployment credential
// (PROVIDER_*), the tenant for a provider without one or with its own (vault:) secret
// (workers/admin/providers.ts). Route configs name replicas by id only.
import { z } from "zod";

const replicaUrl = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .transform((u) => u.replace(/(^|[^/])\/+$/, "$1"));

export const providerReplica = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "1-40 of A-Z, a-z, 0-9, _ and -"),
  // The replica's API base, used in place of the provider's base_url (with its credential).
  base_url: replicaUrl,
  // vLLM-style Prometheus endpoint whose queue gauges are polled for placement. It gets the
  // provider's credential (openai-compatible only) when on base_url's origin, none elsewhere
  // (workers/router/replicas.ts pollIfDue); the x-queue-depth response header is read either way.
  metrics_url: replicaUrl.optional(),
});
export type ProviderReplica = z.infer<typeof providerReplica>;

export const providerReplicas = z
  .array(providerReplica)
  .min(1)
  .max(64)
  .refine((rs) => new Set(rs.map((r) => r.id)).size === rs.length, { message: "replica ids must be unique" });

// PATCH /admin/providers/:id. `replicas: null` removes them (requests go to base_url again).
export const updateProviderBody = z.strictObject({
  replicas: providerReplicas.nullable(),
});

// The column as stored (JSON text); a row that does not parse declares no replicas.
export function parseStoredReplicas(text: string | null): ProviderReplica[] {
  if (!text) return [];
  try {
    const parsed = providerReplicas.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  } catch {
    return [];
  }
}
