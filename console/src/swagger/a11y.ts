// Swagger UI 5.35 renders a few controls that axe-core rightly flags and that no option of its own
// fixes: the server picker, an enum parameter's <select> and the request body's <textarea> have no
// accessible name, and a response's scrollable code block cannot be reached by keyboard. This
// observer names each such control after what it edits (the parameter's name, "Request body",
// "Server") and makes the code blocks focusable, as Swagger UI re-renders them. It only adds
// attributes that Swagger UI does not set (React leaves attributes it does not manage alone).
// Colour contrast is fixed in swagger-fixes.css. docs/console.md lists what axe still reports.

function nameFor(control: Element): string {
  if (control.id === "servers") return "Server";
  const row = control.closest("[data-param-name]");
  const param = row?.getAttribute("data-param-name");
  if (control.closest(".body-param") || control.closest(".opblock-section-request-body")) {
    return control.tagName === "SELECT" ? "Request body content type" : param ? `Request body (${param})` : "Request body";
  }
  if (param) return `Parameter ${param}`;
  if (control.closest(".responses-wrapper, .response-controls")) return "Response content type";
  return control.tagName === "SELECT" ? "Choice" : "Value";
}

function label(root: ParentNode): void {
  for (const control of root.querySelectorAll("select, textarea, input:not([type=hidden])")) {
    if (control.hasAttribute("aria-label") || control.hasAttribute("aria-labelledby")) continue;
    // A <label> counts only when it has words of its own (Swagger UI's server picker is wrapped
    // in a label whose only text is the options').
    const own = (l: Element | null | undefined) => (l?.textContent ?? "").replace(control.textContent ?? "", "").trim() !== "";
    if (control.id && own(root.querySelector(`label[for="${CSS.escape(control.id)}"]`))) continue;
    if (own(control.closest("label"))) continue;
    control.setAttribute("aria-label", nameFor(control));
  }
  for (const block of root.querySelectorAll("pre.microlight:not([tabindex])")) {
    block.setAttribute("tabindex", "0");
    block.setAttribute("aria-label", "Code");
  }
}

export function labelSwaggerControls(host: HTMLElement): () => void {
  label(host);
  const observer = new MutationObserver(() => label(host));
  observer.observe(host, { childList: true, subtree: true });
  return () => observer.disconnect();
}
