// API reference: the gateway's own OpenAPI 3.1 documents (/admin/openapi.json, /openapi.json,
// generated from the validators: docs/openapi.md), rendered here rather than by Swagger UI or
// Scalar, which would need inline styles or scripts under this page's CSP. Interactive for reads:
// any admin GET can be sent with the console session (path and query parameters filled in here),
// answered exactly as the API answers; writes stay on the console's pages, the CLI and curl.
import { useEffect, useState } from "preact/hooks";
import { ApiFailure, type Session } from "../api.ts";
import { Head } from "./table.tsx";
import { Status } from "./status.tsx";

type Json = any;

interface Operation {
  method: string;
  path: string;
  op: Json;
}

const DOCS = [
  { url: "/admin/openapi.json", label: "Admin API" },
  { url: "/openapi.json", label: "Public API (/v1, webhooks)" },
] as const;

function resolve(doc: Json, schema: Json): Json {
  const ref = schema?.$ref;
  if (typeof ref !== "string" || !ref.startsWith("#/components/schemas/")) return schema;
  return doc.components?.schemas?.[ref.slice("#/components/schemas/".length)] ?? schema;
}

function operations(doc: Json): Map<string, Operation[]> {
  const byTag = new Map<string, Operation[]>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? "other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), { method, path, op }]);
    }
  }
  return byTag;
}

function TryIt({ operation }: { operation: Operation }) {
  const [answer, setAnswer] = useState<string | null>(null);
  const params: Json[] = operation.op.parameters ?? [];
  const id = operation.op.operationId as string;
  const send = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const value = (name: string) => ((form.elements.namedItem(`${id}-${name}`) as HTMLInputElement | null)?.value ?? "").trim();
    let path = operation.path;
    const query = new URLSearchParams();
    for (const p of params) {
      const v = value(p.name);
      if (p.in === "path") path = path.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (v !== "") query.set(p.name, v);
    }
    const qs = query.toString();
    const res = await fetch(`${path}${qs ? `?${qs}` : ""}`, { headers: { "x-edgeclaw-console": "1" }, credentials: "same-origin" });
    const text = await res.text();
    let body = text;
    try {
      body = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // CSV or text: shown as is
    }
    setAnswer(`${res.status} ${res.statusText}\n${body.slice(0, 20_000)}`);
  };
  return (
    <form class="try" onSubmit={send} aria-label={`Try ${operation.method.toUpperCase()} ${operation.path}`}>
      {params.map((p) => (
        <div key={`${p.in}-${p.name}`}>
          <label for={`${id}-${p.name}`}>
            {p.name} ({p.in}
            {p.required ? ", required" : ""})
          </label>
          <input id={`${id}-${p.name}`} name={`${id}-${p.name}`} required={p.in === "path"} />
        </div>
      ))}
      <button type="submit">Send GET</button>
      {answer !== null && <pre tabIndex={0} data-testid={`answer-${id}`}>{answer}</pre>}
    </form>
  );
}

export function Reference(_: { session: Session }) {
  const [which, setWhich] = useState<(typeof DOCS)[number]["url"]>(DOCS[0].url);
  const [doc, setDoc] = useState<Json | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    setDoc(null);
    fetch(which, { credentials: "same-origin" })
      .then(async (res) => {
        if (!res.ok) throw new ApiFailure(res.status, "error", `${which}: HTTP ${res.status}`);
        setDoc(await res.json());
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
  }, [which]);

  const admin = which === "/admin/openapi.json";
  return (
    <>
      <p class="note">
        Generated from the validators the API runs (<a href={which}>{which}</a>; docs/openapi.md). Load it into any OpenAPI tool for
        code generation. {admin ? "GET operations can be sent from here with your console session." : ""}
      </p>
      <div class="inline">
        <label for="ref-doc">Document</label>{" "}
        <select id="ref-doc" value={which} onChange={(e) => setWhich((e.currentTarget as HTMLSelectElement).value as typeof which)}>
          {DOCS.map((d) => (
            <option key={d.url} value={d.url}>
              {d.label}
            </option>
          ))}
        </select>
      </div>
      <Status error={error} />
      {!doc ? (
        <p role="status">Loading…</p>
      ) : (
        <>
          <p data-testid="ref-title">
            <strong>{doc.info?.title}</strong> {doc.info?.version} · OpenAPI {doc.openapi}
          </p>
          {[...operations(doc)].map(([tag, ops]) => (
            <section key={tag} aria-labelledby={`tag-${tag}`}>
              <h2 id={`tag-${tag}`}>{tag}</h2>
              {ops.map((o) => (
                <details key={`${o.method} ${o.path}`} class="op">
                  <summary>
                    <span class={`method m-${o.method}`}>{o.method.toUpperCase()}</span> <code>{o.path}</code> {o.op.summary}
                  </summary>
                  {o.op.description && <p>{o.op.description}</p>}
                  {o.op.parameters?.length > 0 && (
                    <table>
                      <Head cols={["Parameter", "In", "Required", "Schema"]} />
                      <tbody>
                        {o.op.parameters.map((p: Json) => (
                          <tr key={`${p.in}-${p.name}`}>
                            <td>
                              <code>{p.name}</code>
                            </td>
                            <td>{p.in}</td>
                            <td>{p.required ? "yes" : "no"}</td>
                            <td class="wrap">
                              <code>{JSON.stringify(resolve(doc, p.schema))}</code>
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                  {o.op.requestBody && (
                    <>
                      <h3>Request body</h3>
                      <pre tabIndex={0}>{JSON.stringify(resolve(doc, o.op.requestBody.content?.["application/json"]?.schema), null, 2)}</pre>
                      {o.op.requestBody.content?.["application/json"]?.example !== undefined && (
                        <>
                          <h3>Example</h3>
                          <pre tabIndex={0}>{JSON.stringify(o.op.requestBody.content["application/json"].example, null, 2)}</pre>
                        </>
                      )}
                    </>
                  )}
                  <h3>Answers</h3>
                  <ul>
                    {Object.entries<Json>(o.op.responses ?? {}).map(([status, r]) => (
                      <li key={status}>
                        <strong>{status}</strong> {r.description}
                      </li>
                    ))}
                  </ul>
                  {admin && o.method === "get" && <TryIt operation={o} />}
                </details>
              ))}
            </section>
          ))}
        </>
      )}
    </>
  );
}
