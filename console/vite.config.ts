// The console's build (docs/console.md): Vite bundles console/src into console/dist/console/, which
// Workers Static Assets serves under /console/ (wrangler.jsonc "assets", workers/console/index.ts).
// Preact's JSX is compiled by Vite's own transform (no Babel plugin needed); the output has no
// inline script or style, so the page runs under CSP script-src 'self' and style-src 'self'.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/console/",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist/console",
    emptyOutDir: true,
    // Everything as files: no data: URLs for small assets, no inline module-preload helper.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: "es2022",
    // Swagger UI's bundle (about 1.5 MB, 0.45 MB gzipped) is one chunk that only the API
    // reference page imports (console/src/pages/reference.tsx); every other chunk stays far below.
    chunkSizeWarningLimit: 1600,
  },
});
