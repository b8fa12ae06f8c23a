// Models & routes: a tenant's providers and models (/admin/providers, /admin/models) and its
// versioned router config (/admin/router-config): the route trees drawn as trees with their
// configured weights and each target's breaker state, the spend and calls per target
// (routes-live.tsx, which also says what no API exposes), the config as JSON to edit, a diff against the active
// version before saving (the API validates it and names the offending field), the version
// history and a rollback. Viewers see everything read-only.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, canWrite, type Session } from "../api.ts";
import { lineDiff, type DiffLine } from "./line-diff.ts";
import { SpendLine, TargetTraffic } from "./routes-live.tsx";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

type Json = any;

interface Version {
  version: number;
  created_at: string | null;
  actor?: string;
  comment?: string | null;
  rolled_back_from?: number | null;
}
interface Breaker {
  path: string;
  replica: string | null;
  phase: string;
  open_until: string | null;
  times_opened: number;
  callers_open: number;
}

const READ_ONLY = "Your role is read-only";

function Tree({ node }: { node: Json }) {
  if (!node || typeof node !== "object") return null;
  const label =
    node.type === "target"
      ? `target ${node.id ?? ""}: ${node.provider} / ${node.model}${node.weight !== undefined ? ` (weight ${node.weight})` : ""}`
      : `${node.type}${node.id ? ` ${node.id}` : ""}${node.weight !== undefined ? ` (weight ${node.weight})` : ""}${node.on ? ` on ${node.on.join(", ")}` : ""}`;
  const children: Json[] = node.type === "conditional" ? [...(node.rules ?? []).map((r: Json) => r.node), node.default] : (node.children ?? []);
  return (
    <li>
      <span class={`node n-${node.type}`}>{label}</span>
      {children.length > 0 && (
        <ul>
          {children.map((c, i) => (
            <Tree key={i} node={c} />
          ))}
        </ul>
      )}
    </li>
  );
}

// Re-read whenever the config version changes (a saved tree has other targets).
function Breakers({ tenant, route, version }: { tenant: string; route: string; version: number }) {
  const [data, setData] = useState<Breaker[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api.get<{ data: Breaker[] }>("/router-config/breakers", { tenant_id: tenant, model: route }).then(
      (r) => setData(r.data),
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, [tenant, route, version]);
  if (error) return <p class="note">Breakers: {error}</p>;
  if (!data) return null;
  return (
    <table data-testid={`breakers-${route}`}>
      <Head cols={["Target", "Replica", "Breaker", "Open until", "Times opened", "Keys with their own breaker open"]} />
      <tbody>
        {data.map((b) => (
          <tr key={`${b.path}/${b.replica}`}>
            <td>{b.path}</td>
            <td>{b.replica ?? "–"}</td>
            <td>{b.phase}</td>
            <td>{b.open_until ?? "–"}</td>
            <td>{b.times_opened}</td>
            <td>{b.callers_open}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Routes({ session }: { session: Session }) {
  const [tenants, setTenants] = useState<string[]>(session.tenant ? [session.tenant] : []);
  const [tenant, setTenant] = useState<string>(session.tenant ?? "");
  const [providers, setProviders] = useState<Json[]>([]);
  const [models, setModels] = useState<Json[]>([]);
  const [active, setActive] = useState<{ version: number; config: Json } | null>(null);
  const [versions, setVersions] = useState<Version[]>([]);
  const [draft, setDraft] = useState("");
  const [diff, setDiff] = useState<DiffLine[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const writer = canWrite(session);
  // Diff and save read the editor itself, not the last rendered state: what is compared and sent
  // is exactly what the operator sees.
  const editor = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (session.tenant) return;
    api.get<{ data: { id: string; revoked_at: string | null }[] }>("/tenants", { limit: "500" }).then(
      (r) => {
        const ids = r.data.filter((t) => !t.revoked_at).map((t) => t.id);
        setTenants(ids);
        if (!tenant && ids[0]) setTenant(ids.includes("demo") ? "demo" : ids[0]);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : String(e)),
    );
  }, []);

  const load = async (t: string) => {
    if (!t) return;
    try {
      const q = { tenant_id: t, limit: "500" };
      const [p, m, cfg, v] = await Promise.all([
        api.get<{ data: Json[] }>("/providers", q),
        api.get<{ data: Json[] }>("/models", q),
        api.get<{ version: number; config: Json }>("/router-config", { tenant_id: t }),
        api.get<{ data: Version[] }>("/router-config/versions", { tenant_id: t, limit: "50" }),
      ]);
      setProviders(p.data);
      setModels(m.data);
      setActive({ version: cfg.version, config: cfg.config });
      setDraft(JSON.stringify(cfg.config, null, 2));
      setVersions(v.data);
      setDiff(null);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  };
  useEffect(() => void load(tenant), [tenant]);

  const parsedDraft = (): Json | null => {
    try {
      return JSON.parse(editor.current?.value ?? draft);
    } catch (e) {
      setError(`The config is not JSON: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
  };
  const showDiff = () => {
    setError(null);
    const config = parsedDraft();
    if (config === null || !active) return;
    setDiff(lineDiff(JSON.stringify(active.config, null, 2), JSON.stringify(config, null, 2)));
  };
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(null);
    const config = parsedDraft();
    if (config === null) return;
    const comment = ((e.currentTarget as HTMLFormElement).elements.namedItem("cfg-comment") as HTMLInputElement).value.trim();
    try {
      const r = await api.put<{ version: number }>("/router-config", { tenant_id: tenant, config, ...(comment ? { comment } : {}) });
      await load(tenant);
      setSaved(`Saved as version ${r.version}.`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };
  const rollback = async (version: number) => {
    if (!window.confirm(`Make version ${version} active again (as a new version)?`)) return;
    setError(null);
    try {
      const r = await api.post<{ version: number }>("/router-config/rollback", { tenant_id: tenant, version });
      await load(tenant);
      setSaved(`Version ${version} is active again as version ${r.version}.`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const routes = Object.entries<Json>(active?.config?.routes ?? {});
  const unchanged = diff !== null && diff.every((d) => d.op === " ");
  return (
    <>
      {!session.tenant && (
        <div class="inline">
          <label for="rt-tenant">Tenant</label>{" "}
          <select id="rt-tenant" value={tenant} onChange={(e) => setTenant((e.currentTarget as HTMLSelectElement).value)}>
            {tenants.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
      )}
      <Status error={error} />
      {saved && (
        <p role="status" class="ok">
          {saved}
        </p>
      )}
      <section aria-labelledby="models-h">
        <h2 id="models-h">Providers and models</h2>
        <table data-testid="providers">
          <Head cols={["Provider", "Kind", "Base URL", "Replicas", "Status"]} />
          <tbody>
            {providers.map((p) => (
              <tr key={p.id}>
                <td>{p.name}</td>
                <td>{p.kind}</td>
                <td class="wrap">{p.base_url ?? "–"}</td>
                <td>{Array.isArray(p.replicas) ? p.replicas.length : 0}</td>
                <td>{p.revoked_at ? "revoked" : "active"}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table data-testid="models">
          <Head cols={["Public name", "Upstream model", "Context window", "Price in / out per Mtok", "Enabled"]} />
          <tbody>
            {models.map((m) => (
              <tr key={m.id}>
                <td>{m.public_name}</td>
                <td>{m.upstream_model}</td>
                <td>{m.context_window ?? "–"}</td>
                <td>
                  {m.input_price_per_mtok ?? 0} / {m.output_price_per_mtok ?? 0}
                </td>
                <td>{m.enabled ? "yes" : "no"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="routes-h">
        <h2 id="routes-h">Routes (router config version {active?.version ?? "…"})</h2>
        {routes.length === 0 && <p>No routes: each model is served by its own provider directly.</p>}
        {routes.map(([name, route]) => (
          <div key={name} class="route" data-testid={`route-${name}`}>
            <h3>{name}</h3>
            <ul class="tree">
              <Tree node={route.tree} />
            </ul>
            <Breakers tenant={tenant} route={name} version={active?.version ?? 0} />
          </div>
        ))}
        {tenant && <SpendLine tenant={tenant} budgets={active?.config?.budgets?.tenant} version={active?.version ?? 0} />}
      </section>
      {tenant && <TargetTraffic tenant={tenant} version={active?.version ?? 0} />}
      <section aria-labelledby="edit-h">
        <h2 id="edit-h">Edit the router config</h2>
        <form onSubmit={save} class="editor">
          <label for="cfg-json">Config (JSON; docs/router.md)</label>
          <textarea ref={editor} id="cfg-json" rows={16} spellcheck={false} value={draft} readOnly={!writer} onInput={(e) => (setDraft((e.currentTarget as HTMLTextAreaElement).value), setDiff(null))} />
          <div class="inline">
            <label for="cfg-comment">Comment</label> <input id="cfg-comment" name="cfg-comment" maxLength={500} disabled={!writer} />{" "}
            <button type="button" onClick={showDiff}>
              Show diff
            </button>{" "}
            <button type="submit" disabled={!writer || diff === null || unchanged} title={writer ? "Show the diff first" : READ_ONLY}>
              Save as new version
            </button>
          </div>
        </form>
        {diff && (
          <pre class="diff" data-testid="cfg-diff" tabIndex={0}>
            {unchanged
              ? "No change."
              : diff.map((d, i) => (
                  <span key={i} class={d.op === "+" ? "add" : d.op === "-" ? "del" : undefined}>
                    {d.op} {d.text}
                    {"\n"}
                  </span>
                ))}
          </pre>
        )}
      </section>
      <section aria-labelledby="versions-h">
        <h2 id="versions-h">Versions</h2>
        <table data-testid="versions">
          <Head cols={["Version", "Saved", "By", "Comment"]} actions />
          <tbody>
            {versions.map((v) => (
              <tr key={v.version}>
                <td>{v.version}</td>
                <td>{v.created_at}</td>
                <td>{v.actor ?? "–"}</td>
                <td>{v.rolled_back_from ? `rollback to ${v.rolled_back_from}` : (v.comment ?? "")}</td>
                <td>
                  <button type="button" disabled={!writer || v.version === active?.version} title={writer ? undefined : READ_ONLY} onClick={() => void rollback(v.version)}>
                    Roll back to {v.version}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}
