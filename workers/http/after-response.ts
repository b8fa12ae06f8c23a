// Work a request owes but its answer does not wait for (the request log line, the usage event):
// run on a zero-delay timer, so the handler returns its Response first and the runtime starts
// writing it before this runs, under the request's waitUntil so the invocation lives until it is
// done. Synchronous work at the end of a handler is on the answer's critical path; a microtask
// (Promise.then) would still run before the Response reaches the runtime, a timer does not.
// A throw is logged, never propagated: the answer has already gone.
export type WaitUntil = (p: Promise<unknown>) => void;

export function afterResponse(waitUntil: WaitUntil, work: () => void): void {
  waitUntil(
    new Promise<void>((resolve) => {
      setTimeout(() => {
        try {
          work();
        } catch (err) {
          console.error(JSON.stringify({ msg: "after-response work failed", error: String(err).slice(0, 200) }));
        }
        resolve();
      }, 0);
    }),
  );
}
