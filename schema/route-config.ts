// zod schema of a tenant's router config: the document the admin API stores (versioned) in D1
// and every isolate caches. A route maps a public model name to a tree of nodes; a node is a
// target (provider + upstream model + optional replicas) or a strategy over children. Provider
// names are checked against the tenant's providers when the document is saved.
import { z } from "zod";
import { boundedJson } from "./json-bounds.ts";

// Why a call failed, as far as the router cares: fallbacks and retries are decided per class.
export const errorClasses = [
  "rate_limited", // 429
  "server_error", // 5xx
  "timeout", // nothing by the first-byte deadline
  "connection", // unreachable, reset, broken stream before the first byte
  "context_length", // the prompt does not fit the model: try a larger-context one
  "content_policy", // the upstream refused on policy grounds
] as const;
export type ErrorClass = (typeof errorClasses)[number];

export const priorities = ["low", "normal", "high"] as const;
export type Priority = (typeof priorities)[number];

const segment = z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "1-40 of A-Z, a-z, 0-9, _ and -");
const providerName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
const price = z.number().min(0).max(1_000_000);

// Fields of the request and its context that a conditional rule can test.
const conditionField = z.union([
  z.enum([
    "max_tokens",
    "temperature",
    "message_count",
    "prompt_tokens",
    "tier",
    "complexity",
    "language",
    // From the Accept-Language header: the primary subtag of the first preference ("ja"), and
    // every preferred language, tags and primary subtags, for `in` (["ja-JP", "ja", "en"]).
    "accept_language",
    "accept_languages",
    "stream",
    "priority",
  ]),
  z.string().regex(/^header:[a-z0-9-]{1,64}$/, "header:<lowercase name>"),
  z.string().regex(/^metadata:[A-Za-z0-9_.-]{1,64}$/, "metadata:<key>"),
]);
const scalar = z.union([z.number(), z.string().max(256), z.boolean()]);

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { field: string; op: "eq" | "ne" | "lt" | "lte" | "gt" | "gte" | "in" | "exists"; value?: unknown };

export const condition: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ all: z.array(condition).min(1).max(16) }),
    z.strictObject({ any: z.array(condition).min(1).max(16) }),
    z.strictObject({ not: condition }),
    z
      .strictObject({
        field: conditionField,
        op: z.enum(["eq", "ne", "lt", "lte", "gt", "gte", "in", "exists"]),
        value: z.union([scalar, z.array(scalar).min(1).max(64)]).optional(),
      })
      .refine((c) => c.op === "exists" || c.value !== undefined, { message: "value is required", path: ["value"] })
      .refine((c) => (c.op === "in") === Array.isArray(c.value) || c.op === "exists", {
        message: "'in' takes an array; the other operators a single value",
        path: ["value"],
      }),
  ]),
);

const common = {
  // The node's segment in its path id (default: its index among its siblings).
  id: segment.optional(),
  // Share of traffic when the parent is `weighted`.
  weight: z.number().positive().max(1_000_000).optional(),
};

// A target names the replicas it may use by id; their URLs are declared on the provider
// (schema/provider-replicas.ts), which only the credential's owner may point elsewhere. A route
// config, which a tenant admin writes, never supplies a URL the provider's credential goes to.
const replicaRef = z.string({ error: "replicas lists the provider's replica ids; their URLs are declared on the provider (PATCH /admin/providers/:id)" }).regex(/^[A-Za-z0-9_-]{1,40}$/, "1-40 of A-Z, a-z, 0-9, _ and -");

// Configs saved before replicas moved onto providers held {id, base_url, metrics_url} objects.
// Reading such a stored version keeps the id and drops the URLs (the provider's declared URL for
// that id is used, or none); writing one is refused.
const storedReplicaRef = z.union([replicaRef, z.looseObject({ id: replicaRef }).transform((r) => r.id)]);

const targetFields = {
  type: z.literal("target"),
  ...common,
  provider: providerName,
  model: z.string().min(1).max(256),
  // A subset of the provider's replicas (default: all it declares).
  replicas: z.array(replicaRef).min(1).max(64).optional(),
  context_window: z.number().int().positive().optional(),
  input_price_per_mtok: price.optional(),
  output_price_per_mtok: price.optional(),
  // In-flight requests (per isolate; per replica when there are replicas) beyond which the
  // target is saturated: priority classes decide who still gets in.
  max_concurrency: z.number().int().positive().max(100_000).optional(),
  // Wait for the first byte of the answer (overrides the route's).
  first_byte_timeout_ms: z.number().int().min(50).max(600_000).optional(),
};
const targetNode = z.strictObject(targetFields);
const storedTargetNode = z.strictObject({ ...targetFields, replicas: z.array(storedReplicaRef).min(1).max(64).optional() });

export type TargetNode = z.infer<typeof targetNode>;

export type RouteNode =
  | TargetNode
  | { type: "weighted"; id?: string; weight?: number; on?: ErrorClass[]; children: RouteNode[] }
  | { type: "fallback"; id?: string; weight?: number; on?: ErrorClass[]; children: RouteNode[] }
  | { type: "conditional"; id?: string; weight?: number; rules: { when: Condition; node: RouteNode }[]; default: RouteNode };

const uniqueIds = (children: { id?: string }[]) => {
  const ids = children.map((c) => c.id).filter((id) => id !== undefined);
  return new Set(ids).size === ids.length;
};

// The tree, over either form of target (written configs, stored versions).
function nodeSchema(target: typeof targetNode | typeof storedTargetNode): z.ZodType<RouteNode> {
  const routeNode: z.ZodType<RouteNode> = z.lazy(() =>
    z.discriminatedUnion("type", [
      target,
      z
        .strictObject({
          type: z.literal("weighted"),
          ...common,
          // Error classes on which the next child (in weighted order) is tried; default all.
          on: z.array(z.enum(errorClasses)).optional(),
          children: z.array(routeNode).min(1).max(32),
        })
        .refine((n) => uniqueIds(n.children), { message: "child ids must be unique", path: ["children"] }),
      z
        .strictObject({
          type: z.literal("fallback"),
          ...common,
          on: z.array(z.enum(errorClasses)).optional(),
          children: z.array(routeNode).min(1).max(32),
        })
        .refine((n) => uniqueIds(n.children), { message: "child ids must be unique", path: ["children"] }),
      z
        .strictObject({
          type: z.literal("conditional"),
          ...common,
          rules: z.array(z.strictObject({ when: condition, node: routeNode })).max(32),
          default: routeNode,
        })
        .refine((n) => uniqueIds([...n.rules.map((r) => r.node), n.default]), { message: "child ids must be unique", path: ["rules"] }),
    ]),
  );
  return routeNode;
}

export const routeNode = nodeSchema(targetNode);

export const breakerSettings = z.strictObject({
  // Open after this many consecutive failures...
  failures: z.number().int().min(1).max(10_000).default(5),
  // ...or when at least this share of at least min_requests calls in the window failed.
  failure_rate: z.number().gt(0).max(1).default(0.5),
  min_requests: z.number().int().min(1).max(100_000).default(20),
  window_ms: z.number().int().min(1_000).max(600_000).default(10_000),
  // How long it stays open before letting probes through.
  open_ms: z.number().int().min(100).max(3_600_000).default(5_000),
  // Probes allowed at once while half-open; this many successes close it again.
  half_open_probes: z.number().int().min(1).max(100).default(2),
});
export type BreakerSettings = z.infer<typeof breakerSettings>;

export const retrySettings = z.strictObject({
  // Tries per target for retryable classes (429, 5xx, timeout, connection) before falling over.
  attempts: z.number().int().min(1).max(10).default(2),
  base_ms: z.number().int().min(1).max(60_000).default(100),
  max_ms: z.number().int().min(1).max(120_000).default(2_000),
  // Total time for every attempt and wait of one request; a Retry-After beyond it is not waited.
  budget_ms: z.number().int().min(100).max(600_000).default(30_000),
});
export type RetrySettings = z.infer<typeof retrySettings>;

export const cacheSettings = z.strictObject({
  ttl_s: z.number().int().min(0).max(86_400),
  // Cache requests that sample (temperature > 0 without a seed) too.
  nondeterministic: z.boolean().default(false),
});

// What a route does with parameters a target's provider family cannot carry (Anthropic has no
// seed, Workers AI no tool_choice, neither takes fields the gateway does not know):
//   drop_params true (default): leave them out and name them in x-edgeclaw-dropped-params;
//               false: such a target is skipped for this request (a fallback or weighted
//               sibling that can carry them serves it), and with none left the request is a 400
//               unsupported_parameter naming them.
//   strict_params true: top-level fields the gateway does not know are a 400 (unknown_parameter)
//               instead of being passed through; default false.
// Set on the config, they are the default of every route (the catalog's implicit ones too).
const paramSettings = {
  drop_params: z.boolean().optional(),
  strict_params: z.boolean().optional(),
};

const routeFields = {
  cache: cacheSettings.optional(),
  retry: retrySettings.optional(),
  breaker: breakerSettings.optional(),
  first_byte_timeout_ms: z.number().int().min(50).max(600_000).optional(),
  // Tokens reserved against limits and budgets when the request names no max_tokens.
  default_max_tokens: z.number().int().positive().max(1_000_000).optional(),
  ...paramSettings,
};
export const route = z.strictObject({ tree: routeNode, ...routeFields });
export type Route = z.infer<typeof route>;

export const rateLimit = z.strictObject({
  requests_per_min: z.number().int().positive().max(10_000_000).optional(),
  tokens_per_min: z.number().int().positive().max(10_000_000_000).optional(),
});
export type RateLimit = z.infer<typeof rateLimit>;

export const budget = z.strictObject({
  daily_usd: z.number().positive().max(10_000_000).optional(),
  monthly_usd: z.number().positive().max(100_000_000).optional(),
});
export type Budget = z.infer<typeof budget>;

const publicName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/);

const configFields = {
  // The tenant's tier, for conditional rules.
  tier: z.string().min(1).max(64).optional(),
  ...paramSettings,
  breaker: breakerSettings.optional(),
  retry: retrySettings.optional(),
  limits: z.strictObject({ tenant: rateLimit.optional(), key: rateLimit.optional() }).optional(),
  budgets: z.strictObject({ tenant: budget.optional(), key: budget.optional() }).optional(),
  // Per API key (by id): its priority class and its own limits and budget (replacing `key`).
  keys: z
    .record(
      z.string().min(1).max(64),
      z.strictObject({ priority: z.enum(priorities).optional(), limits: rateLimit.optional(), budget: budget.optional() }),
    )
    .optional(),
};
// Trees and conditions nest, and zod, compiling and routing all walk them recursively: a
// document nested deeper than this many JSON levels is refused first (by an iterative check),
// instead of overflowing the stack. Real configs are far shallower.
export const MAX_CONFIG_DEPTH = 64;
const bounded = z.unknown().superRefine(boundedJson(MAX_CONFIG_DEPTH));

export const routerConfig = bounded.pipe(z.strictObject({ routes: z.record(publicName, route).default({}), ...configFields }));
export type RouterConfig = z.infer<typeof routerConfig>;

// What isolates read back from D1 (and rollback restores): the same document, except that a
// version saved before replicas moved onto providers may still hold replica objects (ids kept,
// URLs dropped). Its output is a RouterConfig.
const storedRoute = z.strictObject({ tree: nodeSchema(storedTargetNode), ...routeFields });
export const storedRouterConfig: z.ZodType<RouterConfig> = bounded.pipe(z.strictObject({ routes: z.record(publicName, storedRoute).default({}), ...configFields }));

// Admin bodies.
export const putRouterConfigBody = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  config: routerConfig,
  comment: z.string().max(500).optional(),
});

export const rollbackBody = z.strictObject({
  tenant_id: z.string().min(1).max(64).optional(),
  version: z.number().int().positive(),
  comment: z.string().max(500).optional(),
});
