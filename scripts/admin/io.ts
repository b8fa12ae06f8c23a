// What the CLI touches outside itself, passed in so the parser and help can be run in-process.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

export interface Io {
  out(text: string): void; // stdout, a newline added
  err(text: string): void; // stderr, a newline added
  env: Record<string, string | undefined>;
  cwd: string; // where relative paths (--file, --out, .dev.vars) are read from
  readStdin(): Promise<string>;
  isStdinTty: boolean;
}

export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
    env: process.env,
    // INIT_CWD: npm runs scripts from the package root; relative paths mean where the user typed.
    cwd: process.env.INIT_CWD ?? process.cwd(),
    readStdin,
    isStdinTty: process.stdin.isTTY === true,
  };
}

const MAX_STDIN = 4 * 1024 * 1024;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length;
    if (size > MAX_STDIN) throw new Error("stdin is larger than 4 MiB");
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

// A terminal: read one line without echoing it (a secret's value never shows on screen).
export function readHidden(prompt: string): Promise<string> {
  return new Promise((done, fail) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let value = "";
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off("data", onData);
      process.stderr.write("\n");
      if (error) fail(error);
      else done(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return finish();
        if (ch === "\u0003") return finish(new Error("cancelled"));
        if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
        else value += ch;
      }
    };
    stdin.on("data", onData);
  });
}

// --file PATH or --file - (stdin), parsed as JSON.
export async function readJsonFile(io: Io, path: string): Promise<unknown> {
  const text = path === "-" ? await io.readStdin() : readFileSync(resolve(io.cwd, path), "utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new Error(`${path === "-" ? "stdin" : path} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
