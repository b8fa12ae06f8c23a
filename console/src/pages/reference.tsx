// API reference: the gateway's own OpenAPI 3.1 documents (/admin/openapi.json, /openapi.json,
// generated from the validators: docs/openapi.md) in Swagger UI. Swagger UI (about 1.7 MB before
// gzip) is loaded only when this page opens: a dynamic import of swagger/swagger-ui.ts, which Vite
// builds as its own chunk. Its "Try it out" sends with the console session (swagger/swagger-ui.ts).
import { useEffect, useRef, useState } from "preact/hooks";
import { canWrite, message, type Session } from "../api.ts";
import { Status } from "./status.tsx";

const DOCS = [
  { url: "/admin/openapi.json", label: "Admin API" },
  { url: "/openapi.json", label: "Public API (/v1, webhooks)" },
] as const;

export function Reference({ session }: { session: Session }) {
  const [which, setWhich] = useState<(typeof DOCS)[number]["url"]>(DOCS[0].url);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const node = host.current;
    if (!node) return;
    let live = true;
    let stop = () => {};
    setReady(false);
    import("../swagger/swagger-ui.ts").then(
      ({ mountSwaggerUI }) => {
        if (!live) return;
        node.replaceChildren();
        stop = mountSwaggerUI(node, which);
        setReady(true);
      },
      (e: unknown) => setError(`Swagger UI did not load: ${message(e)}`),
    );
    return () => {
      live = false;
      stop();
    };
  }, [which]);

  const admin = which === "/admin/openapi.json";
  return (
    <>
      <p class="note">
        Generated from the validators the API runs (<a href={which}>{which}</a>; docs/openapi.md); load it into any OpenAPI tool
        for code generation.{" "}
        {admin
          ? `"Try it out" sends the request with your console session, as ${session.role}${session.tenant ? ` of tenant ${session.tenant}` : ""}: the API applies the same role and tenant scope as everywhere else${canWrite(session) ? "" : " and refuses your writes"}.`
          : `"Try it out" on /v1 needs an API key: "Authorize" takes one (kept in this page only, never stored).`}
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
      {!ready && !error && <p role="status">Loading Swagger UI…</p>}
      <div class="swagger-host" ref={host} data-testid="swagger" />
    </>
  );
}
