// Every Durable Object the gateway reaches goes through here, so that a regional deployment pins
// each one where its tenant's data must stay: `namespace.jurisdiction(DO_JURISDICTION)` (the object
// runs and stores only inside that jurisdiction; the same name gives a different id there) or, where
// Cloudflare offers no jurisdiction, a location hint for where it is first created (a hint, not a
// guarantee: docs/deploy.md, "Where residency ends"). test/security/node/ checks that no other
// module calls idFromName/get/getByName on a namespace binding.
import { regionSettings } from "./settings.ts";

type Namespace = DurableObjectNamespace<Rpc.DurableObjectBranded | undefined>;
type StubOf<N> = N extends DurableObjectNamespace<infer T> ? DurableObjectStub<T> : never;

// The namespace as this deployment must use it (workerd caches nothing for us: jurisdiction()
// builds a new namespace object each call, so keep one per binding).
const pinnedNamespaces = new WeakMap<object, Namespace>();

export function pinnedNamespace<N extends Namespace>(env: object, namespace: N): N {
  const { jurisdiction } = regionSettings(env);
  if (jurisdiction === null) return namespace;
  let pinned = pinnedNamespaces.get(namespace);
  if (!pinned) {
    pinned = namespace.jurisdiction(jurisdiction);
    pinnedNamespaces.set(namespace, pinned);
  }
  return pinned as N;
}

// The stub of the object called `name` in `namespace`, pinned for this deployment.
export function objectNamed<N extends Namespace>(env: object, namespace: N, name: string): StubOf<N> {
  const ns = pinnedNamespace(env, namespace);
  const { locationHint } = regionSettings(env);
  return ns.get(ns.idFromName(name), locationHint ? { locationHint } : undefined) as StubOf<N>;
}

// Whether `id` is the id of the object called `name` here (a Durable Object checking that it was
// reached under the name it expects).
export function isObjectNamed(env: object, namespace: Namespace, name: string, id: DurableObjectId): boolean {
  return pinnedNamespace(env, namespace).idFromName(name).equals(id);
}
