// Every response carries x-request-id. A caller-supplied id is kept when it looks like an id (so
// traces join up across hops); anything else is replaced, so logs never carry arbitrary input.
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";

const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{8,128}$/;

export function requestId(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const id = incoming && ACCEPTABLE_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set("requestId", id);
    await next();
    c.res.headers.set("x-request-id", id);
  };
}
