// Finds every regular expression in the source with the TypeScript compiler's own parser (so a
// slash in a string, comment or division is never mistaken for one): regex literals, and
// `new RegExp(...)` / `RegExp(...)` whose pattern is a string, a template or a `+` built from
// literals and same-file `const`s. A pattern it cannot evaluate is reported as dynamic, so a
// regex built at run time cannot slip past the ReDoS check unseen.
import { readdirSync } from "node:fs";
import { isAbsolute, join, relative } from "node:path";
import { API } from "typescript/unstable/sync";
import { computeLineStarts, NodeFlags, SyntaxKind, type Node, type SourceFile } from "typescript/unstable/ast";

export interface FoundRegex {
  file: string; // relative to the repository root
  line: number;
  source: string;
  flags: string;
  form: "literal" | "constructor";
}

export interface DynamicRegex {
  file: string;
  line: number;
  text: string;
}

export interface Extraction {
  regexes: FoundRegex[];
  dynamic: DynamicRegex[];
  // Source files under the roots that no tsconfig project parses (they would go unchecked).
  unparsed: string[];
}

const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules") out.push(...filesUnder(path));
    } else if (SOURCE_EXT.test(entry.name)) out.push(path);
  }
  return out;
}

// `roots` are folders relative to `repo`; `projects` the tsconfig files that parse them.
export function extractRegexes(repo: string, roots: string[], projects: string[]): Extraction {
  const api = new API({ cwd: repo });
  try {
    const snapshot = api.updateSnapshot({ openProjects: projects.map((p) => join(repo, p)) });
    const regexes: FoundRegex[] = [];
    const dynamic: DynamicRegex[] = [];
    const parsed = new Set<string>();
    const inRoots = (file: string) =>
      roots.some((r) => {
        const rel = relative(join(repo, r), file);
        return !rel.startsWith("..") && !isAbsolute(rel);
      });
    for (const project of snapshot.getProjects()) {
      for (const fileName of project.program.getSourceFileNames()) {
        if (parsed.has(fileName) || fileName.includes("/node_modules/") || !inRoots(fileName)) continue;
        const sf = project.program.getSourceFile(fileName);
        if (!sf) continue;
        parsed.add(fileName);
        collect(sf, relative(repo, fileName), regexes, dynamic);
      }
    }
    const onDisk = roots.flatMap((r) => filesUnder(join(repo, r)));
    const unparsed = onDisk.filter((f) => !parsed.has(f)).map((f) => relative(repo, f));
    return { regexes, dynamic, unparsed };
  } finally {
    api.close();
  }
}

function collect(sf: SourceFile, file: string, regexes: FoundRegex[], dynamic: DynamicRegex[]): void {
  const lines = computeLineStarts(sf.text);
  const lineOf = (node: Node) => {
    const at = node.getStart(sf);
    let lo = 0;
    let hi = lines.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lines[mid] ?? 0) <= at) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const visit = (node: Node): void => {
    if (node.kind === SyntaxKind.RegularExpressionLiteral) {
      const { source, flags } = splitLiteral((node as unknown as { text: string }).text);
      regexes.push({ file, line: lineOf(node), source, flags, form: "literal" });
    } else if (isRegExpCall(node)) {
      const args = (node as unknown as { arguments?: readonly Node[] }).arguments ?? [];
      const [patternArg, flagsArg] = args;
      let source: string | null = null;
      let flags: string | null = "";
      if (patternArg?.kind === SyntaxKind.RegularExpressionLiteral) {
        const lit = splitLiteral((patternArg as unknown as { text: string }).text);
        source = lit.source;
        flags = lit.flags;
      } else if (patternArg) {
        source = evaluate(patternArg, sf, 0);
      }
      if (flagsArg) flags = evaluate(flagsArg, sf, 0);
      if (source === null || flags === null) dynamic.push({ file, line: lineOf(node), text: node.getText(sf).slice(0, 200) });
      else regexes.push({ file, line: lineOf(node), source, flags, form: "constructor" });
    }
    node.forEachChild(visit);
  };
  visit(sf);
}

function splitLiteral(text: string): { source: string; flags: string } {
  const end = text.lastIndexOf("/");
  return { source: text.slice(1, end), flags: text.slice(end + 1) };
}

function isRegExpCall(node: Node): boolean {
  if (node.kind !== SyntaxKind.NewExpression && node.kind !== SyntaxKind.CallExpression) return false;
  const callee = (node as unknown as { expression: Node }).expression;
  if (callee.kind === SyntaxKind.Identifier) return (callee as unknown as { text: string }).text === "RegExp";
  if (callee.kind === SyntaxKind.PropertyAccessExpression) {
    const name = (callee as unknown as { name: { text: string } }).name;
    return name.text === "RegExp";
  }
  return false;
}

// The string value of an expression built only from literals and same-file consts; null if not.
function evaluate(node: Node, sf: SourceFile, depth: number): string | null {
  if (depth > 20) return null;
  const n = node as unknown as Record<string, unknown>;
  switch (node.kind) {
    case SyntaxKind.StringLiteral:
    case SyntaxKind.NoSubstitutionTemplateLiteral:
      return n.text as string;
    case SyntaxKind.ParenthesizedExpression:
      return evaluate(n.expression as Node, sf, depth + 1);
    case SyntaxKind.TemplateExpression: {
      let out = (n.head as { text: string }).text;
      for (const span of n.templateSpans as readonly { expression: Node; literal: { text: string } }[]) {
        const value = evaluate(span.expression, sf, depth + 1);
        if (value === null) return null;
        out += value + span.literal.text;
      }
      return out;
    }
    case SyntaxKind.BinaryExpression: {
      if ((n.operatorToken as Node).kind !== SyntaxKind.PlusToken) return null;
      const left = evaluate(n.left as Node, sf, depth + 1);
      const right = evaluate(n.right as Node, sf, depth + 1);
      return left === null || right === null ? null : left + right;
    }
    case SyntaxKind.PropertyAccessExpression: {
      // `/re/.source`
      const target = n.expression as Node;
      if ((n.name as { text: string }).text === "source" && target.kind === SyntaxKind.RegularExpressionLiteral) {
        return splitLiteral((target as unknown as { text: string }).text).source;
      }
      return null;
    }
    case SyntaxKind.Identifier: {
      const init = constInitializer(sf, n.text as string);
      return init ? evaluate(init, sf, depth + 1) : null;
    }
    default:
      return null;
  }
}

// The initializer of a top-level or nested `const <name> = ...` in the file, if exactly one.
function constInitializer(sf: SourceFile, name: string): Node | null {
  const found: Node[] = [];
  const visit = (node: Node): void => {
    if (node.kind === SyntaxKind.VariableDeclaration) {
      const decl = node as unknown as { name: Node & { text?: string }; initializer?: Node; parent: Node };
      if (decl.name.kind === SyntaxKind.Identifier && decl.name.text === name && decl.initializer && (decl.parent.flags & NodeFlags.Const) !== 0) {
        found.push(decl.initializer);
      }
    }
    node.forEachChild(visit);
  };
  visit(sf);
  return found.length === 1 ? (found[0] ?? null) : null;
}
