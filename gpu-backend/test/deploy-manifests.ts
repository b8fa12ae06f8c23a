// Offline checks of gpu-backend/deploy: render a kustomization with the real kustomize (the one
// built into kubectl), validate every object against the Kubernetes JSON schemas that
// kubernetes-models ships (compiled ajv validators, generated from Kubernetes' OpenAPI), reject
// fields those schemas do not declare (as kubeconform -strict does; Kubernetes' own schemas allow
// unknown fields, and the API server drops them silently, so a typo'd securityContxt would deploy
// without its securityContext), then check the rules this deployment depends on (policyProblems).
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const deployDir = fileURLToPath(new URL("../deploy/", import.meta.url));
const srcDir = fileURLToPath(new URL("../src/", import.meta.url));

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };
// Manifests are walked as plain JSON; `any` keeps the policy checks readable where a wrong shape
// is itself reported by the schema validation first.
type Json = any;

const kubectl = process.env.KUBECTL ?? "kubectl";

/** kubectl's embedded kustomize version, e.g. [5, 5, 0]; throws with what to install when absent or too old. */
export function kustomizeVersion(): number[] {
  let out: string;
  try {
    out = execFileSync(kubectl, ["version", "--client", "-o", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    throw new Error(`cannot run ${kubectl} (set KUBECTL to its path): ${(e as Error).message}. The deploy tests render with kubectl's built-in kustomize (kubectl >= 1.27).`);
  }
  const v = String(JSON.parse(out).kustomizeVersion ?? "");
  const m = /^v(\d+)\.(\d+)\.(\d+)/.exec(v);
  // labels[].includeTemplates (used by the overlays) arrived in kustomize 5; Debian's
  // kubernetes-client (kubectl 1.20, kustomize 2.0.3) reads none of this layout.
  if (!m || Number(m[1]) < 5) throw new Error(`${kubectl} embeds kustomize ${v || "(none)"}; the deploy layout needs kustomize >= 5 (kubectl >= 1.27).`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Render a kustomization directory with kubectl's kustomize; stderr carries its deprecation warnings. */
export function render(dir: string): { objects: K8sObject[]; stderr: string } {
  const r = spawnSync(kubectl, ["kustomize", dir], { encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed: ${r.stderr}`);
  return { objects: parseManifests(r.stdout), stderr: r.stderr };
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`YAML: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject;
  }).filter((o) => o !== null);
}

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string; keyword: string; params: unknown }[] | null };

// kubernetes-models names a schema IoK8sApi<Group><Version><Kind>: apps/v1 StatefulSet ->
// IoK8sApiAppsV1StatefulSet, v1 Service -> IoK8sApiCoreV1Service, networking.k8s.io/v1 ->
// Networking. A kind it has no schema for fails: a typo'd kind or apiVersion is a mistake too.
async function schemaFor(apiVersion: string, kind: string): Promise<Validator> {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") as [string, string] : ["core", apiVersion];
  const pascal = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
  const name = `IoK8sApi${pascal(group.split(".")[0]!)}${pascal(version)}${kind}`;
  if (!/^[A-Za-z0-9]+$/.test(name)) throw new Error(`no schema for ${apiVersion} ${kind}`);
  try {
    const mod = (await import(`kubernetes-models/_schemas/${name}`)) as { validate: Validator };
    return mod.validate;
  } catch {
    throw new Error(`no Kubernetes schema for apiVersion ${apiVersion} kind ${kind}`);
  }
}

// The compiled validators read each property the schema declares (`data.runAsUser`) and
// enumerate the keys of maps (labels, resources.limits). Watching which keys they touch tells
// which keys the schema knows: any other key is a field Kubernetes would drop.
function watched(root: unknown) {
  const seen = new WeakMap<object, { keys: Set<string>; all: boolean }>();
  const note = (o: object) => {
    let r = seen.get(o);
    if (!r) seen.set(o, (r = { keys: new Set(), all: false }));
    return r;
  };
  const wrap = (v: unknown): unknown =>
    v !== null && typeof v === "object"
      ? new Proxy(v, {
          get(t, k, r) {
            if (typeof k === "string") note(t).keys.add(k);
            return wrap(Reflect.get(t, k, r));
          },
          has(t, k) {
            if (typeof k === "string") note(t).keys.add(k);
            return Reflect.has(t, k);
          },
          ownKeys(t) {
            note(t).all = true;
            return Reflect.ownKeys(t);
          },
        })
      : v;
  const unknown = (): string[] => {
    const out: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (v === null || typeof v !== "object") return;
      const r = seen.get(v);
      for (const [k, child] of Object.entries(v)) {
        if (!Array.isArray(v) && !(r && (r.all || r.keys.has(k)))) out.push(`${path}/${k}`);
        walk(child, `${path}/${k}`);
      }
    };
    walk(root, "");
    return out;
  };
  return { proxy: wrap(root), unknown };
}

/** Schema errors and undeclared fields of one object, as readable lines (empty: valid). */
export async function validateObject(obj: K8sObject): Promise<string[]> {
  const where = `${obj?.kind ?? "?"}/${obj?.metadata?.name ?? "?"}`;
  if (typeof obj?.apiVersion !== "string" || typeof obj?.kind !== "string") return [`${where}: apiVersion and kind are required`];
  let validate: Validator;
  try {
    validate = await schemaFor(obj.apiVersion, obj.kind);
  } catch (e) {
    return [`${where}: ${(e as Error).message}`];
  }
  const w = watched(obj);
  const ok = validate(w.proxy);
  const problems = ok ? [] : (validate.errors ?? []).map((e) => `${where}: ${e.instancePath || "/"} ${e.keyword} ${JSON.stringify(e.params)}`);
  for (const path of w.unknown()) problems.push(`${where}: ${path} is not a field of ${obj.apiVersion} ${obj.kind}`);
  return problems;
}

export async function validateAll(objects: K8sObject[]): Promise<string[]> {
  return (await Promise.all(objects.map(validateObject))).flat();
}

/** Gauge names the backend really exports (gauge("name", ...) in src/metrics.ts). */
export function exportedGauges(): Set<string> {
  const text = readFileSync(`${srcDir}metrics.ts`, "utf8");
  return new Set([...text.matchAll(/gauge\("([^"]+)"/g)].map((m) => m[1]!));
}

/** GET routes the backend serves (app.get("/path", ...) in src/app.ts). */
export function servedGetPaths(): Set<string> {
  const text = readFileSync(`${srcDir}app.ts`, "utf8");
  return new Set([...text.matchAll(/app\.get\("([^"]+)"/g)].map((m) => m[1]!));
}

const podTemplateKinds = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);
const gpuOf = (c: Json): unknown => c?.resources?.limits?.["nvidia.com/gpu"];

/**
 * What this deployment relies on beyond schema validity, as readable lines (empty: fine):
 * the restricted Pod Security profile on every container, GPU pods that tolerate the pool's taint
 * and roll out without a spare GPU, probes on the backend's real health routes, an HPA that
 * targets a rendered workload on a metric the backend exports, per-pod addressing through the
 * headless Service and cloudflared, and (given a region) the region's label and node pool.
 */
export function policyProblems(objects: K8sObject[], region?: string): string[] {
  const p: string[] = [];
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind) as Json[];
  const ns = byKind("Namespace");
  if (ns.length !== 1) p.push(`expected one Namespace, got ${ns.length}`);
  const nsName = ns[0]?.metadata?.name;
  if (ns[0] && ns[0].metadata?.labels?.["pod-security.kubernetes.io/enforce"] !== "restricted") p.push(`Namespace ${nsName}: pod-security.kubernetes.io/enforce is not restricted`);
  for (const o of objects as Json[]) {
    if (o.kind !== "Namespace" && o.metadata?.namespace !== nsName) p.push(`${o.kind}/${o.metadata?.name}: not in namespace ${nsName}`);
    if (region !== undefined && o.metadata?.labels?.["edgeclaw/region"] !== region) p.push(`${o.kind}/${o.metadata?.name}: label edgeclaw/region is not ${region}`);
  }

  const routes = servedGetPaths();
  for (const w of objects.filter((o) => podTemplateKinds.has(o.kind)) as Json[]) {
    const id = `${w.kind}/${w.metadata.name}`;
    const pod = w.spec?.template?.spec ?? {};
    const psc = pod.securityContext ?? {};
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) p.push(`${id}: host namespaces`);
    if ((pod.volumes ?? []).some((v: Json) => v.hostPath)) p.push(`${id}: hostPath volume`);
    if (region !== undefined && w.spec?.template?.metadata?.labels?.["edgeclaw/region"] !== region) p.push(`${id}: pod template lacks label edgeclaw/region=${region}`);
    const writable = new Set((pod.volumes ?? []).filter((v: Json) => v.emptyDir).map((v: Json) => v.name));
    for (const t of w.spec?.volumeClaimTemplates ?? []) writable.add(t.metadata?.name);
    for (const c of [...(pod.initContainers ?? []), ...(pod.containers ?? [])] as Json[]) {
      const cid = `${id} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) p.push(`${cid}: allowPrivilegeEscalation is not false`);
      if (sc.privileged) p.push(`${cid}: privileged`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) p.push(`${cid}: capabilities.drop lacks ALL`);
      if ((sc.capabilities?.add ?? []).some((a: string) => a !== "NET_BIND_SERVICE")) p.push(`${cid}: adds capabilities`);
      if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) p.push(`${cid}: runAsNonRoot is not true`);
      const uid = sc.runAsUser ?? psc.runAsUser;
      if (!Number.isInteger(uid) || uid === 0) p.push(`${cid}: runAsUser is not a non-zero uid`);
      if ((sc.seccompProfile ?? psc.seccompProfile)?.type !== "RuntimeDefault") p.push(`${cid}: seccompProfile is not RuntimeDefault`);
      if (sc.readOnlyRootFilesystem !== true) p.push(`${cid}: readOnlyRootFilesystem is not true`);
      const mounts = new Map<string, string>((c.volumeMounts ?? []).map((m: Json) => [m.mountPath, m.name]));
      if (!writable.has(mounts.get("/tmp"))) p.push(`${cid}: no writable volume at /tmp`);
      if (gpuOf(c) !== undefined) {
        if (String(gpuOf(c)) !== String(c.resources?.requests?.["nvidia.com/gpu"] ?? gpuOf(c))) p.push(`${cid}: nvidia.com/gpu request differs from its limit`);
        for (const dir of ["/models", "/var/cache/cuda"]) if (!writable.has(mounts.get(dir))) p.push(`${cid}: no writable volume at ${dir}`);
        if (c.readinessProbe?.httpGet?.path !== "/health/ready") p.push(`${cid}: readinessProbe is not GET /health/ready`);
        if (c.livenessProbe?.httpGet?.path !== "/health") p.push(`${cid}: livenessProbe is not GET /health`);
        for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          const path = c[probe]?.httpGet?.path;
          if (path !== undefined && !routes.has(path)) p.push(`${cid}: ${probe} path ${path} is not served by src/app.ts`);
          const port = c[probe]?.httpGet?.port;
          if (typeof port === "string" && !(c.ports ?? []).some((x: Json) => x.name === port)) p.push(`${cid}: ${probe} port ${port} is not a container port`);
        }
        const keys = (c.env ?? []).find((e: Json) => e.name === "API_KEYS");
        if (!keys?.valueFrom?.secretKeyRef) p.push(`${cid}: API_KEYS does not come from a Secret`);
      }
    }
    if (!(pod.containers ?? []).some((c: Json) => gpuOf(c) !== undefined)) continue;
    // GPU workloads: the pool's taint, and a rollout that needs no spare GPU.
    if (!(pod.tolerations ?? []).some((t: Json) => t.key === "nvidia.com/gpu" && (t.effect === "NoSchedule" || t.effect === undefined) && (t.operator === "Exists" || t.operator === undefined || t.operator === "Equal"))) {
      p.push(`${id}: no toleration for the nvidia.com/gpu NoSchedule taint`);
    }
    if (w.kind === "Deployment") {
      const s = w.spec?.strategy;
      if (s?.type === "Recreate") continue;
      if (s?.type !== "RollingUpdate" || !["0", "0%"].includes(String(s.rollingUpdate?.maxSurge)) || String(s.rollingUpdate?.maxUnavailable) !== "1") {
        p.push(`${id}: a GPU Deployment must roll with maxSurge 0 / maxUnavailable 1 (got ${JSON.stringify(s ?? "the default, maxSurge 25%")})`);
      }
    } else if (w.kind === "StatefulSet") {
      const u = w.spec?.updateStrategy;
      if ((u?.type ?? "RollingUpdate") !== "RollingUpdate") p.push(`${id}: updateStrategy is ${u?.type}, not RollingUpdate`);
      if (u?.rollingUpdate?.maxUnavailable !== undefined && String(u.rollingUpdate.maxUnavailable) !== "1") p.push(`${id}: rollingUpdate.maxUnavailable is not 1`);
      if (w.spec?.podManagementPolicy !== "Parallel") p.push(`${id}: podManagementPolicy is not Parallel`);
      if (w.spec?.replicas !== undefined && byKind("HorizontalPodAutoscaler").some((h) => h.spec?.scaleTargetRef?.name === w.metadata.name)) p.push(`${id}: sets spec.replicas although an HPA owns the count`);
      const svc = byKind("Service").find((s) => s.metadata.name === w.spec?.serviceName);
      if (!svc) p.push(`${id}: serviceName ${w.spec?.serviceName} is not a rendered Service`);
      else {
        if (svc.spec?.clusterIP !== "None") p.push(`Service/${svc.metadata.name}: not headless (clusterIP None): pods would get no DNS names of their own`);
        const labels = w.spec?.template?.metadata?.labels ?? {};
        if (!Object.entries(svc.spec?.selector ?? {}).every(([k, v]) => labels[k] === v) || !Object.keys(svc.spec?.selector ?? {}).length) p.push(`Service/${svc.metadata.name}: selector does not match ${id}'s pods`);
      }
    }
  }

  const gauges = exportedGauges();
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const id = `HorizontalPodAutoscaler/${h.metadata.name}`;
    const ref = h.spec?.scaleTargetRef ?? {};
    if (!objects.some((o) => o.kind === ref.kind && o.metadata.name === ref.name && o.apiVersion === ref.apiVersion)) p.push(`${id}: scaleTargetRef ${ref.apiVersion} ${ref.kind}/${ref.name} is not a rendered object`);
    if (!(h.spec?.minReplicas >= 1) || h.spec?.maxReplicas < h.spec?.minReplicas) p.push(`${id}: minReplicas ${h.spec?.minReplicas} / maxReplicas ${h.spec?.maxReplicas}`);
    const metrics = h.spec?.metrics ?? [];
    if (!metrics.length) p.push(`${id}: no metrics`);
    for (const m of metrics) {
      const name = m.pods?.metric?.name;
      if (m.type !== "Pods" || !gauges.has(name)) p.push(`${id}: metric ${m.type} ${name} is not a gauge in gpu-backend/src/metrics.ts`);
    }
  }

  p.push(...tunnelProblems(objects));
  if (region !== undefined) {
    const sts = byKind("StatefulSet").find((s) => s.metadata.name === "gpu");
    const terms = sts?.spec?.template?.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
    if (!terms.length || !terms.every((t: Json) => (t.matchExpressions ?? []).some((e: Json) => e.key === "topology.kubernetes.io/region" && e.operator === "In" && e.values?.length))) {
      p.push(`StatefulSet/gpu: no required node affinity on topology.kubernetes.io/region (the region's GPU pool)`);
    }
  }
  return p;
}

// cloudflared must publish one hostname per pod the HPA may run, each to that pod's DNS name.
function tunnelProblems(objects: K8sObject[]): string[] {
  const p: string[] = [];
  const all = objects as Json[];
  const sts = all.find((o) => o.kind === "StatefulSet" && o.metadata.name === "gpu");
  const hpa = all.find((o) => o.kind === "HorizontalPodAutoscaler" && o.spec?.scaleTargetRef?.name === "gpu");
  const cfd = all.find((o) => o.kind === "Deployment" && o.metadata.name === "cloudflared");
  if (!sts || !hpa || !cfd) return [`expected StatefulSet/gpu, its HPA and Deployment/cloudflared`];
  const pod = cfd.spec.template.spec;
  const cmName = pod.volumes?.find((v: Json) => v.configMap)?.configMap?.name;
  const cm = all.find((o) => o.kind === "ConfigMap" && o.metadata.name === cmName);
  if (!cm) return [`Deployment/cloudflared: ConfigMap ${cmName} is not rendered`];
  let config: Json;
  try {
    config = parseYaml(cm.data?.["config.yaml"] ?? "");
  } catch (e) {
    return [`ConfigMap/${cmName}: config.yaml is not YAML: ${(e as Error).message}`];
  }
  const args: string[] = pod.containers?.[0]?.args ?? [];
  const mounts = new Map<string, string>((pod.containers?.[0]?.volumeMounts ?? []).map((m: Json) => [m.name, m.mountPath]));
  const cfgVolume = pod.volumes.find((v: Json) => v.configMap).name;
  if (args[args.indexOf("--config") + 1] !== `${mounts.get(cfgVolume)}/config.yaml`) p.push(`Deployment/cloudflared: --config does not point at the mounted ConfigMap`);
  const credsVolume = pod.volumes.find((v: Json) => v.secret)?.name;
  if (!credsVolume || !String(config?.["credentials-file"]).startsWith(`${mounts.get(credsVolume)}/`)) p.push(`cloudflared: credentials-file is not in the mounted Secret`);
  const port = sts.spec.template.spec.containers[0].ports.find((x: Json) => x.name === "http")?.containerPort;
  const ingress: Json[] = config?.ingress ?? [];
  const rules = ingress.filter((r) => r.hostname !== undefined);
  if (ingress.at(-1)?.service !== "http_status:404" || ingress.at(-1)?.hostname !== undefined) p.push(`cloudflared: the last ingress rule must be the catch-all http_status:404`);
  if (rules.length !== hpa.spec.maxReplicas) p.push(`cloudflared: ${rules.length} per-pod hostnames for an HPA maxReplicas of ${hpa.spec.maxReplicas}`);
  const hosts = new Set<string>();
  rules.forEach((r, i) => {
    const want = `http://${sts.metadata.name}-${i}.${sts.spec.serviceName}.${sts.metadata.namespace}.svc.cluster.local:${port}`;
    if (r.service !== want) p.push(`cloudflared: ingress rule ${i} goes to ${r.service}, expected ${want}`);
    if (!String(r.hostname).startsWith(`${sts.metadata.name}-${i}.`) || hosts.has(r.hostname)) p.push(`cloudflared: hostname ${r.hostname} of rule ${i} does not name pod ${sts.metadata.name}-${i}`);
    hosts.add(r.hostname);
  });
  return p;
}
