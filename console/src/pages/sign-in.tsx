// Sign-in: the admin token is pasted once and sent to POST /console/session, which answers with an
// httpOnly session cookie; the token is dropped from memory right after.
import { useState } from "preact/hooks";
import { api, type Session } from "../api.ts";
import { Status } from "./status.tsx";

export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const field = form.elements.namedItem("token") as HTMLTextAreaElement;
    const token = field.value.trim();
    setBusy(true);
    setError(null);
    try {
      const session = await api.signIn(token);
      field.value = "";
      onSignedIn(session);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="sign-in">
      <h1>Sign in to the EdgeClaw console</h1>
      <p>
        Paste an admin token (owner, tenant admin or viewer). Mint one with <code>npm run -s admin -- token --role owner</code>.
        The console keeps a session of at most two hours in a cookie scripts cannot read; the token itself is not stored.
      </p>
      <form onSubmit={submit}>
        <label for="token">Admin token</label>
        <textarea id="token" name="token" rows={4} required autocomplete="off" spellcheck={false} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        <Status error={error} />
      </form>
    </main>
  );
}
