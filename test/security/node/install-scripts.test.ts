// Supply chain: every dependency install script has been reviewed and its decision recorded in
// package.json's allowScripts (issue 17). npm 11.19 runs an unreviewed script with a notice and
// `npm ci --strict-allow-scripts` (.ci/run) refuses it; this test says which package is new, on
// any machine that runs `npm test`, before CI does.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const root = new URL("../../../", import.meta.url);

describe("dependency install scripts", () => {
  it("npm install-scripts ls reports nothing unreviewed", () => {
    // npm's own answer for the installed tree (it reads node_modules and package.json).
    const out = execFileSync("npm", ["install-scripts", "ls"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(out.trim()).toBe("No packages with unreviewed install scripts.");
  });

  it("denies every script the project runs without, and approves none unpinned", () => {
    const pkg = JSON.parse(readFileSync(new URL("package.json", root), "utf8")) as { allowScripts?: Record<string, boolean> };
    const decisions = pkg.allowScripts ?? {};
    // Each was reviewed (docs/security.md, "Supply chain"): the binaries come from lockfile-pinned
    // packages, so these scripts would only validate, download or build what is already there.
    for (const name of ["workerd", "esbuild", "node-llama-cpp", "@portkey-ai/gateway"]) expect(decisions[name], name).toBe(false);
    // An approval must name the reviewed version (pkg@x.y.z): a name alone would let any future
    // version's script run unreviewed.
    for (const [name, allowed] of Object.entries(decisions)) if (allowed) expect(name, name).toMatch(/.@\d+\.\d+\.\d+$/);
  });
});
