// Which model sources the admin API may load: an hf: URI, or a file inside MODELS_DIR. Everything
// else gets one and the same refusal, whether the file exists or not, so the admin API cannot be
// used to probe the file system. Symlinks are followed (realpath) before the containment check, so
// a link inside MODELS_DIR that points outside it is refused too.
import { realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";

// hf:<user>/<repo>[:<quant>] or hf:<user>/<repo>/<file path>[#<branch>]; no "." or ".." segments,
// so the downloaded file's name cannot climb out of the model cache.
const SEGMENT = "(?!\\.{1,2}(?:[/:#]|$))[\\w.-]+";
const HF_URI = new RegExp(`^hf:${SEGMENT}/${SEGMENT}(?::[\\w.-]+|(?:/${SEGMENT})+)?(?:#${SEGMENT})?$`);

export class SourceNotAllowedError extends Error {
  constructor() {
    super("The path must be an hf: URI or a model file inside MODELS_DIR.");
  }
}

export function isHfUri(source: string): boolean {
  return HF_URI.test(source);
}

/** The hf: URI as given, or the real path of a regular file inside `modelsDir`; throws SourceNotAllowedError otherwise. */
export async function allowedSource(source: string, modelsDir: string): Promise<string> {
  if (source.startsWith("hf:")) {
    if (isHfUri(source)) return source;
    throw new SourceNotAllowedError();
  }
  if (source.includes("\0")) throw new SourceNotAllowedError();
  try {
    const root = await realpath(modelsDir);
    const real = await realpath(resolve(root, source));
    const rel = relative(root, real);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) throw new SourceNotAllowedError();
    if (!(await stat(real)).isFile()) throw new SourceNotAllowedError();
    return real;
  } catch {
    // Missing file, missing MODELS_DIR, a loop of links, no permission: all the same refusal.
    throw new SourceNotAllowedError();
  }
}
