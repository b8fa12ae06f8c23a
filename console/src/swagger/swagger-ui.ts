// Swagger UI's initializer, in a module of its own (the console's CSP allows no inline script):
// this file, swagger-ui-dist's ES bundle and its CSS form one chunk that the API reference page
// imports on demand, so no other page downloads them (docs/console.md, "API reference").
//
// "Try it out" requests go to this origin (the documents say `servers: [{url: "/"}]`) with the
// console session's cookie (same-origin credentials) and the console's CSRF header, so Swagger UI
// is one more client of the same /admin API: a viewer's write is refused 403 as everywhere else.
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-es-bundle.js";
import "swagger-ui-dist/swagger-ui.css";
import "./swagger-fixes.css";
import { labelSwaggerControls } from "./a11y.ts";

export interface SwaggerRequest {
  url: string;
  method?: string;
  headers: Record<string, string>;
  credentials?: RequestCredentials;
}

// Same-origin requests carry the console session; the header is what the Worker's CSRF check asks
// of every cookie-authenticated write (a cross-site page cannot set it). Another origin (a URL
// typed into the document box) gets neither.
export function withConsoleSession(req: SwaggerRequest, origin: string): SwaggerRequest {
  if (new URL(req.url, origin).origin !== origin) return { ...req, credentials: "omit" };
  return { ...req, credentials: "same-origin", headers: { ...req.headers, "X-EdgeClaw-Console": "1" } };
}

// Renders Swagger UI into domNode; the returned function stops the accessibility observer.
export function mountSwaggerUI(domNode: HTMLElement, url: string): () => void {
  SwaggerUIBundle({
    domNode,
    url,
    // Swagger UI's deep links live in location.hash, which is the console's own page router.
    deepLinking: false,
    // The public validator badge would send the document to validator.swagger.io.
    validatorUrl: null,
    // No "Explore" top bar (its URL box would point the page at any document on the web).
    layout: "BaseLayout",
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
    // Its themes colour JSON tokens below AA contrast on their dark background; plain text reads.
    syntaxHighlight: { activated: false },
    // Request snippets are curl lines with the headers, cookie-less: useful, and no secret in them.
    requestSnippetsEnabled: true,
    requestInterceptor: (req: SwaggerRequest) => withConsoleSession(req, location.origin),
  });
  return labelSwaggerControls(domNode);
}
