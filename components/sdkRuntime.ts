// How the program runs inside the Pulumi Node.js SDK: one adjustment, made before the first
// registration (index.ts).

/**
 * The SDK stamps a stack trace on every internal promise it makes (`debuggablePromise` in
 * runtime/debuggable.js reads `new Error().stack` at once), several per resource and property,
 * and its runner installs source-map-support, which maps each of those frames through the
 * compiled files' source maps: about a fifth of the program's CPU in a 50-stage access `up`
 * (docs/performance.md). Those traces are printed only by the SDK's promise-leak report with
 * PULUMI_DEBUG_PROMISE_LEAKS set, so otherwise they are left empty; every other error keeps its
 * source-mapped stack.
 */
export function skipSdkPromiseStacks(env: NodeJS.ProcessEnv = process.env): void {
  const format = Error.prepareStackTrace;
  if (env.PULUMI_DEBUG_PROMISE_LEAKS || !format) return;
  Error.prepareStackTrace = (error, frames) =>
    frames[0]?.getFunctionName() === "debuggablePromise" ? "" : format(error, frames);
}
