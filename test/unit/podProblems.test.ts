import * as assert from "node:assert/strict";
import { describePodProblems, podProblems } from "../../cli/lib/podProblems";

const pod = (status: object, name = "web-1") => ({
  metadata: { name, namespace: "shop" },
  status: { phase: "Pending", conditions: [{ type: "Ready", status: "False" }], ...status },
});

describe("podProblems: why a stage's pods are not ready", () => {
  it("names an image that cannot be pulled, with the kubelet's message", () => {
    assert.deepEqual(
      podProblems(
        pod({
          containerStatuses: [
            {
              name: "web",
              ready: false,
              state: { waiting: { reason: "ErrImagePull", message: 'failed to pull\n "x:1"' } },
            },
          ],
        }),
      ),
      ['pod shop/web-1 container web: ErrImagePull: failed to pull "x:1"'],
    );
  });

  it("names a crash loop with the last exit", () => {
    assert.deepEqual(
      podProblems(
        pod({
          phase: "Running",
          containerStatuses: [
            {
              name: "web",
              ready: false,
              state: { waiting: { reason: "CrashLoopBackOff" } },
              lastState: { terminated: { reason: "OOMKilled", exitCode: 137 } },
            },
          ],
        }),
      ),
      ["pod shop/web-1 container web: CrashLoopBackOff (last exit: OOMKilled, code 137)"],
    );
  });

  it("falls back to the pod's own reason, e.g. an unschedulable pod", () => {
    assert.deepEqual(podProblems(pod({ reason: "Unschedulable", message: "0/1 nodes" })), [
      "pod shop/web-1: Unschedulable: 0/1 nodes",
    ]);
  });

  it("says nothing of Ready or completed pods", () => {
    const ready = pod({ phase: "Running", conditions: [{ type: "Ready", status: "True" }] });
    assert.deepEqual(podProblems(ready), []);
    assert.deepEqual(podProblems(pod({ phase: "Succeeded" })), []);
    assert.equal(describePodProblems([ready]), "");
  });

  it("lists every pod that is not ready under one heading", () => {
    const text = describePodProblems([
      pod({ reason: "Unschedulable" }, "a"),
      pod({ reason: "Unschedulable" }, "b"),
    ]);
    assert.equal(
      text,
      "Pods of the stage that are not ready (read with the scoped kubeconfig):\n  pod shop/a: Unschedulable\n  pod shop/b: Unschedulable",
    );
  });
});
