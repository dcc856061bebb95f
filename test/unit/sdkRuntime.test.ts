// Issue 20: the program leaves the Node SDK's per-promise debug stacks unformatted (a fifth of its
// CPU in a 50-stage access up went to source-mapping them), and every other stack as it was.
import * as assert from "node:assert/strict";
import * as debuggable from "@pulumi/pulumi/runtime/debuggable";
import { skipSdkPromiseStacks } from "../../components/sdkRuntime";

type Stamped = Promise<number> & { _debugStackTrace?: string };

/** The SDK's own stamping function (internal to it: not in its typings). */
const { debuggablePromise } = debuggable as unknown as {
  debuggablePromise: (p: Promise<number>, ctx: string) => Promise<number>;
};
/** The stack the SDK stamped on a promise it was handed. */
function stamp(): string | undefined {
  const p: Stamped = Promise.resolve(1);
  void debuggablePromise(p, "test");
  return p._debugStackTrace;
}

describe("the program's SDK runtime adjustment", () => {
  const saved = Error.prepareStackTrace;
  const mapped = (error: Error, frames: NodeJS.CallSite[]) =>
    `mapped ${error.message} (${frames.length} frames)`;
  beforeEach(() => (Error.prepareStackTrace = mapped));
  afterEach(() => (Error.prepareStackTrace = saved));

  it("leaves the stack the SDK stamps on its promises empty, through the SDK's own function", () => {
    skipSdkPromiseStacks({});
    // If the SDK renamed its function, this fails: the stacks would be source-mapped again.
    assert.equal(stamp(), "");
  });

  it("formats every other error's stack with the formatter installed before it", () => {
    skipSdkPromiseStacks({});
    assert.match(new Error("boom").stack!, /^mapped boom \(\d+ frames\)$/);
    const fromCallback = (() => new TypeError("inner"))();
    assert.match(fromCallback.stack!, /^mapped inner/);
  });

  it("changes nothing with PULUMI_DEBUG_PROMISE_LEAKS set (the leak report prints those stacks)", () => {
    skipSdkPromiseStacks({ PULUMI_DEBUG_PROMISE_LEAKS: "true" });
    assert.equal(Error.prepareStackTrace, mapped);
    assert.match(stamp()!, /^mapped /);
  });

  it("changes nothing without a formatter (outside the SDK's runner)", () => {
    delete (Error as { prepareStackTrace?: unknown }).prepareStackTrace;
    skipSdkPromiseStacks({});
    assert.equal(Error.prepareStackTrace, undefined);
  });
});
