// The console shell: sign-in, then a navigation bar and one page at a time, chosen by the URL hash
// (#/overview, #/tenants, #/routes, #/channels, #/sessions, #/jobs, #/audit, #/api), so any page can be bookmarked and the Worker serves one file.
// Role-aware: the session says owner, admin or viewer (and the tenant); pages disable what the
// role may not do, and the admin API refuses it anyway.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { api, type Session } from "./api.ts";
import { Audit } from "./pages/audit.tsx";
import { Channels } from "./pages/channels.tsx";
import { Jobs } from "./pages/jobs.tsx";
import { Overview } from "./pages/overview.tsx";
import { Reference } from "./pages/reference.tsx";
import { Routes } from "./pages/routes.tsx";
import { Sessions } from "./pages/sessions.tsx";
import { SignIn } from "./pages/sign-in.tsx";
import { Tenants } from "./pages/tenants.tsx";

const PAGES = [
  { path: "overview", title: "Overview", Page: Overview },
  { path: "tenants", title: "Tenants & keys", Page: Tenants },
  { path: "routes", title: "Models & routes", Page: Routes },
  { path: "channels", title: "Channels & agents", Page: Channels },
  { path: "sessions", title: "Sessions", Page: Sessions },
  { path: "jobs", title: "Jobs", Page: Jobs },
  { path: "audit", title: "Audit", Page: Audit },
  { path: "api", title: "API reference", Page: Reference },
] as const;

function currentPath(): string {
  const path = location.hash.replace(/^#\/?/, "");
  return PAGES.some((p) => p.path === path) ? path : "overview";
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [path, setPath] = useState(currentPath());

  useEffect(() => {
    api.session().then(setSession, () => setSession(null));
    const onHash = () => setPath(currentPath());
    const onSignedOut = () => setSession(null);
    window.addEventListener("hashchange", onHash);
    window.addEventListener("console:signed-out", onSignedOut);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("console:signed-out", onSignedOut);
    };
  }, []);

  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  useEffect(() => {
    document.title = session ? `${page.title} · EdgeClaw console` : "Sign in · EdgeClaw console";
  }, [session, page]);

  if (session === undefined) return <main id="main"><p role="status">Loading…</p></main>;
  if (session === null) return <SignIn onSignedIn={setSession} />;

  const signOut = async () => {
    await api.signOut().catch(() => undefined);
    setSession(null);
  };
  const { Page } = page;
  return (
    <>
      <header class="top">
        <span class="brand">EdgeClaw console</span>
        <nav aria-label="Console pages">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#/${p.path}`} aria-current={p.path === page.path ? "page" : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span data-testid="who">
            {session.role}
            {session.tenant ? ` · tenant ${session.tenant}` : " · all tenants"}
          </span>
          <button type="button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <h1>{page.title}</h1>
        <Page session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
