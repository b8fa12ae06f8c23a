// gpu-backend/deploy rendered per region with the real kustomize (kubectl's) and checked offline:
// every object against Kubernetes' schemas (unknown fields refused), then the deployment's own
// rules (deploy-manifests.ts policyProblems). The negative cases prove each check catches the
// mistake it is there for.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { deployDir, exportedGauges, kustomizeVersion, parseManifests, policyProblems, render, validateAll, validateObject, type K8sObject } from "./deploy-manifests.ts";

const overlaysDir = join(deployDir, "overlays");
const overlays = readdirSync(overlaysDir).sort();
const regionsFile = JSON.parse(readFileSync(new URL("../../deploy/regions.json", import.meta.url), "utf8")) as { regions: { name: string }[] };

const rendered = new Map<string, K8sObject[]>();
beforeAll(() => {
  kustomizeVersion(); // fails with what to install when kubectl (kustomize >= 5) is missing
  for (const region of overlays) {
    const { objects, stderr } = render(join(overlaysDir, region));
    // kustomize warns on stderr about deprecated fields (patchesStrategicMerge, bases, ...).
    expect(stderr, `kustomize warnings for ${region}`).toBe("");
    rendered.set(region, objects);
  }
});

const clone = <T,>(v: T): T => structuredClone(v);
const find = (objects: K8sObject[], kind: string, name?: string) => objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as never as Record<string, any>;

describe("gpu-backend/deploy overlays", () => {
  // A region may run without self-hosted GPUs, but an overlay must belong to a gateway region:
  // its backends serve that region's provider only.
  it("has an overlay for eu, us and apac, each a gateway region in deploy/regions.json", () => {
    expect(overlays).toEqual(expect.arrayContaining(["apac", "eu", "us"]));
    const regions = regionsFile.regions.map((r) => r.name);
    for (const o of overlays) expect(regions, `overlay ${o}`).toContain(o);
  });

  it.each(overlays)("%s: every rendered object is valid against the Kubernetes schemas", async (region) => {
    const objects = rendered.get(region)!;
    expect(objects.map((o) => o.kind).sort()).toEqual(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Namespace", "NetworkPolicy", "PodDisruptionBudget", "Service", "StatefulSet"]);
    expect(await validateAll(objects)).toEqual([]);
  });

  it.each(overlays)("%s: restricted profile, GPU taint and rollout, probes, HPA, per-pod hostnames, region placement", (region) => {
    const objects = rendered.get(region)!;
    expect(policyProblems(objects, region)).toEqual([]);
    const sts = find(objects, "StatefulSet", "gpu");
    const hpa = find(objects, "HorizontalPodAutoscaler", "gpu");
    // The overlay's patches landed: the region's pool, its own model volume, its own bounds.
    expect(sts.spec.template.spec.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(sts.spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values).toHaveLength(1);
    expect(sts.spec.volumeClaimTemplates[0].spec.storageClassName).toBeTruthy();
    expect(sts.spec.template.spec.containers[0].image).toBe("edgeclaw/gpu-backend:0.1.0");
    const config = parseYaml(find(objects, "ConfigMap").data["config.yaml"]);
    expect(config.tunnel).toBe(`edgeclaw-gpu-${region}`);
    expect(config.ingress[0]).toEqual({ hostname: `gpu-0.${region}.example.com`, service: "http://gpu-0.gpu-backend.edgeclaw-gpu.svc.cluster.local:8000" });
    expect(config.ingress.length - 1).toBe(hpa.spec.maxReplicas);
  });

  it("the base alone renders valid objects", async () => {
    const { objects, stderr } = render(join(deployDir, "base"));
    expect(stderr).toBe("");
    expect(await validateAll(objects)).toEqual([]);
    expect(policyProblems(objects)).toEqual([]);
  });

  it("the prometheus-adapter rule serves the metric the HPA asks for, from a gauge the backend exports", async () => {
    const [cm] = parseManifests(readFileSync(join(deployDir, "monitoring", "prometheus-adapter-rules.yaml"), "utf8"));
    expect(await validateObject(cm!)).toEqual([]);
    const rules = parseYaml((cm as never as { data: Record<string, string> }).data["config.yaml"]!).rules as { seriesQuery: string; name: { as: string } }[];
    const hpaMetric = find(rendered.get(overlays[0]!)!, "HorizontalPodAutoscaler").spec.metrics[0].pods.metric.name;
    const rule = rules.find((r) => r.name.as === hpaMetric);
    expect(rule, `an adapter rule named ${hpaMetric}`).toBeDefined();
    const series = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{/.exec(rule!.seriesQuery)?.[1];
    expect(exportedGauges().has(series!)).toBe(true);
    const scrape = parseYaml(readFileSync(join(deployDir, "monitoring", "prometheus-scrape.yaml"), "utf8"));
    const targets = scrape.scrape_configs[0].relabel_configs.map((r: { target_label?: string }) => r.target_label);
    expect(targets).toEqual(expect.arrayContaining(["namespace", "pod"]));
  });
});

describe("the checks catch real mistakes", () => {
  const eu = () => clone(rendered.get("eu")!);

  it("a typo'd field (securityContxt) fails schema validation, though Kubernetes' own schema would let it through", async () => {
    const objects = eu();
    const c = find(objects, "StatefulSet").spec.template.spec.containers[0];
    c.securityContxt = c.securityContext;
    delete c.securityContext;
    const problems = await validateAll(objects);
    expect(problems).toContain("StatefulSet/gpu: /spec/template/spec/containers/0/securityContxt is not a field of apps/v1 StatefulSet");
    expect(policyProblems(objects, "eu")).toContain("StatefulSet/gpu container gpu-backend: allowPrivilegeEscalation is not false");
  });

  it("a wrong type, a bad quantity and an unknown kind fail schema validation", async () => {
    const objects = eu();
    find(objects, "HorizontalPodAutoscaler").spec.maxReplicas = "4";
    find(objects, "StatefulSet").spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"] = "one";
    find(objects, "Service").apiVersion = "v2";
    const problems = (await validateAll(objects)).join("\n");
    expect(problems).toMatch(/HorizontalPodAutoscaler\/gpu: \/spec\/maxReplicas type/);
    expect(problems).toMatch(/StatefulSet\/gpu: \/spec\/template\/spec\/containers\/0\/resources\/limits\/nvidia.com~1gpu/);
    expect(problems).toMatch(/Service\/gpu-backend: no Kubernetes schema for apiVersion v2 kind Service/);
  });

  it.each([
    ["capabilities.drop lacks ALL", (c: any) => (c.securityContext.capabilities.drop = ["NET_RAW"])],
    ["readOnlyRootFilesystem is not true", (c: any) => delete c.securityContext.readOnlyRootFilesystem],
    ["seccompProfile is not RuntimeDefault", (c: any) => (c.securityContext.seccompProfile = { type: "Unconfined" })],
    ["runAsNonRoot is not true", (c: any) => (c.securityContext.runAsNonRoot = false)],
    ["no writable volume at /var/cache/cuda", (c: any) => (c.volumeMounts = c.volumeMounts.filter((m: any) => m.mountPath !== "/var/cache/cuda"))],
    ["livenessProbe is not GET /health", (c: any) => (c.livenessProbe.httpGet.path = "/healthz")],
    ["API_KEYS does not come from a Secret", (c: any) => (c.env.find((e: any) => e.name === "API_KEYS").valueFrom = undefined)],
  ])("a container whose %s is refused", (problem, mutate) => {
    const objects = eu();
    mutate(find(objects, "StatefulSet").spec.template.spec.containers[0]);
    expect(policyProblems(objects, "eu")).toContain(`StatefulSet/gpu container gpu-backend: ${problem}`);
  });

  it("a startup probe on a path the backend does not serve is refused", () => {
    const objects = eu();
    find(objects, "StatefulSet").spec.template.spec.containers[0].startupProbe.httpGet.path = "/ready";
    expect(policyProblems(objects, "eu")).toContain("StatefulSet/gpu container gpu-backend: startupProbe path /ready is not served by src/app.ts");
  });

  it("a GPU Deployment that surges (or keeps the default strategy) is refused; maxSurge 0 / maxUnavailable 1 passes", () => {
    const objects = eu();
    const sts = find(objects, "StatefulSet");
    const deployment = { apiVersion: "apps/v1", kind: "Deployment", metadata: { ...sts.metadata, name: "gpu-deploy" }, spec: { selector: sts.spec.selector, template: sts.spec.template } } as any;
    objects.push(deployment);
    const problem = (list: string[]) => list.find((l) => l.startsWith("Deployment/gpu-deploy: a GPU Deployment must roll"));
    expect(problem(policyProblems(objects, "eu"))).toMatch(/the default, maxSurge 25%/);
    deployment.spec.strategy = { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } };
    expect(problem(policyProblems(objects, "eu"))).toBeDefined();
    deployment.spec.strategy.rollingUpdate.maxSurge = 0;
    expect(problem(policyProblems(objects, "eu"))).toBeUndefined();
  });

  it("a GPU pod without the taint's toleration, or a StatefulSet that sets replicas under an HPA, is refused", () => {
    const objects = eu();
    const sts = find(objects, "StatefulSet");
    sts.spec.template.spec.tolerations = [];
    sts.spec.replicas = 2;
    sts.spec.podManagementPolicy = "OrderedReady";
    const problems = policyProblems(objects, "eu");
    expect(problems).toContain("StatefulSet/gpu: no toleration for the nvidia.com/gpu NoSchedule taint");
    expect(problems).toContain("StatefulSet/gpu: sets spec.replicas although an HPA owns the count");
    expect(problems).toContain("StatefulSet/gpu: podManagementPolicy is not Parallel");
  });

  it("an HPA aimed at a misspelled workload or at a metric the backend does not export is refused", () => {
    const objects = eu();
    const hpa = find(objects, "HorizontalPodAutoscaler");
    hpa.spec.scaleTargetRef.name = "gpu-backend";
    hpa.spec.metrics[0].pods.metric.name = "edgeclaw_queue_depth";
    const problems = policyProblems(objects, "eu");
    expect(problems).toContain("HorizontalPodAutoscaler/gpu: scaleTargetRef apps/v1 StatefulSet/gpu-backend is not a rendered object");
    expect(problems).toContain("HorizontalPodAutoscaler/gpu: metric Pods edgeclaw_queue_depth is not a gauge in gpu-backend/src/metrics.ts");
  });

  it("a pod the HPA may start without a tunnel hostname, a rule to the wrong pod, or a Service with a virtual IP is refused", () => {
    const objects = eu();
    find(objects, "HorizontalPodAutoscaler").spec.maxReplicas = 5;
    const cm = find(objects, "ConfigMap");
    cm.data["config.yaml"] = cm.data["config.yaml"].replace("http://gpu-1.gpu-backend", "http://gpu-2.gpu-backend");
    delete find(objects, "Service").spec.clusterIP;
    const problems = policyProblems(objects, "eu");
    expect(problems).toContain("cloudflared: 4 per-pod hostnames for an HPA maxReplicas of 5");
    expect(problems).toContain("cloudflared: ingress rule 1 goes to http://gpu-2.gpu-backend.edgeclaw-gpu.svc.cluster.local:8000, expected http://gpu-1.gpu-backend.edgeclaw-gpu.svc.cluster.local:8000");
    expect(problems).toContain("Service/gpu-backend: not headless (clusterIP None): pods would get no DNS names of their own");
  });

  it("a namespace without the enforced restricted profile, or an object without the region label, is refused", () => {
    const objects = eu();
    delete find(objects, "Namespace").metadata.labels["pod-security.kubernetes.io/enforce"];
    delete find(objects, "PodDisruptionBudget").metadata.labels["edgeclaw/region"];
    const problems = policyProblems(objects, "eu");
    expect(problems).toContain("Namespace edgeclaw-gpu: pod-security.kubernetes.io/enforce is not restricted");
    expect(problems).toContain("PodDisruptionBudget/gpu: label edgeclaw/region is not eu");
  });

  describe("through kustomize itself", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "gpu-deploy-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("an overlay whose patch misspells a field renders, and validation refuses it", async () => {
      writeFileSync(join(dir, "kustomization.yaml"), `resources:\n  - ${relative(dir, join(overlaysDir, "eu"))}\npatches:\n  - path: typo.yaml\n`);
      writeFileSync(
        join(dir, "typo.yaml"),
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: gpu\nspec:\n  template:\n    spec:\n      tolerations:\n        - key: nvidia.com/gpu\n          operator: Exists\n          efect: NoSchedule\n",
      );
      const { objects } = render(dir);
      const problems = await validateAll(objects);
      expect(problems).toContain("StatefulSet/gpu: /spec/template/spec/tolerations/0/efect is not a field of apps/v1 StatefulSet");
    });

    it("a deprecated kustomization field is reported on stderr (which the overlays must keep empty)", () => {
      writeFileSync(join(dir, "kustomization.yaml"), `bases:\n  - ${relative(dir, join(overlaysDir, "eu"))}\n`);
      expect(render(dir).stderr).toMatch(/deprecated/);
    });
  });
});
