// How the admin CLI describes the admin API: each resource is data (verb -> method, path,
// arguments, flags, output), so that parsing, help, --dry-run and the request are all derived
// from one table (scripts/admin/resources/*.ts) and a new route is one entry, not new code.
import type { Io } from "./io.ts";
import type { ApiResponse, Query } from "./http.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

// string: as given; number: a finite number; boolean: present or not (`value` is what it sets);
// list: comma-separated -> array of strings; json: a JSON value.
export type FlagType = "string" | "number" | "boolean" | "list" | "json";

export interface Flag {
  name: string; // --name on the command line
  field?: string; // the query parameter or body field (dotted for nested), default the name with - -> _
  type?: FlagType; // default "string"
  value?: unknown; // for boolean flags: what the field is set to (default true)
  required?: boolean; // unless --file gives the whole body
  help: string;
  meta?: string; // the placeholder in help, default NAME-style of the flag
}

// A positional argument: a :name in the path (URL-encoded), or a body/query field.
export interface Arg {
  name: string;
  field?: string;
  type?: "string" | "number";
  help: string;
}

export type Values = Record<string, string | boolean | undefined>;

export interface Output {
  // table: the answer's `data` rows; object: key: value lines; document: pretty JSON.
  kind?: "table" | "object" | "document";
  columns?: string[];
}

export interface RunContext {
  values: Values; // every flag as given (strings and booleans)
  args: Record<string, string>;
  io: Io;
  json: boolean;
  // Sends a request; a non-2xx answer throws ApiFailure (exit 1).
  api(method: Method, path: string, options?: { query?: Query; body?: unknown }): Promise<ApiResponse>;
  // Prints an answer the way generic verbs do (--json: the body as sent).
  print(res: ApiResponse, output?: Output): void;
}

export interface Verb {
  name: string;
  summary: string;
  method?: Method; // absent only for a verb with its own run()
  path?: string; // "/tenants/:id": :id filled from the positional of that name
  args?: Arg[];
  flags?: Flag[];
  // --file <json> / --file - : the whole request body (flags override its fields); with
  // fileField, the file is that one field of the body instead (a router config document).
  file?: boolean;
  fileField?: string;
  // Builds the body from the flags instead of the flag -> field mapping (nested shapes).
  build?: (values: Values, body: Record<string, unknown>) => Record<string, unknown>;
  output?: Output;
  confirm?: string; // a destructive verb runs only with --yes; this says what it destroys
  run?: (ctx: RunContext) => Promise<void>;
  notes?: string[];
  examples?: string[];
}

export interface Resource {
  name: string;
  aliases?: string[];
  summary: string;
  verbs: Verb[];
  defaultVerb?: string; // `token --role owner` (no verb) means `tokens mint`
}

// Wrong arguments: exit 2 with one line and a hint.
export class UsageError extends Error {
  hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.hint = hint;
  }
}

// Flags shared by many verbs.
export const tenantFlag: Flag = { name: "tenant", field: "tenant_id", help: "the tenant (owner tokens; a tenant token's own tenant is implied)", meta: "ID" };
export const limitFlag: Flag = { name: "limit", type: "number", help: "at most this many rows (1-500, default 100)", meta: "N" };
export const listFlags: Flag[] = [tenantFlag, limitFlag];

export function fieldOf(flag: Flag): string {
  return flag.field ?? flag.name.replaceAll("-", "_");
}
