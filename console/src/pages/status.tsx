// A page's last error (an alert) and its last notice (a polite status), when there are any.
export function Status({ error, notice = null }: { error: string | null; notice?: string | null }) {
  return (
    <>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {notice && (
        <p role="status" class="ok">
          {notice}
        </p>
      )}
    </>
  );
}
