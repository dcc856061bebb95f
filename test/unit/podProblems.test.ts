import * as assert from "node:assert/strict";
import { describePodProblems, podProblems, podWarnings } from "../../cli/lib/podProblems";

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

  it("names the Warnings pods got since the deploy started, once each, and no earlier ones", () => {
    const since = new Date("2026-12-02T10:00:00Z");
    const event = (reason: string, message: string, at: string, type = "Warning") => ({
      type,
      reason,
      message,
      involvedObject: { kind: "Pod", name: "web-2", namespace: "shop" },
      lastTimestamp: new Date(at),
    });
    const warnings = podWarnings(
      [
        event("BackOff", "Back-off pulling image", "2026-12-02T10:00:09Z"),
        event("Failed", "Error: ErrImagePull", "2026-12-02T10:00:05Z"),
        event("Failed", "Error: ErrImagePull", "2026-12-02T10:00:07Z"),
        event("Failed", "an older failure", "2026-12-02T09:59:00Z"),
        event("Pulled", "already present", "2026-12-02T10:00:01Z", "Normal"),
      ],
      since,
    );
    assert.deepEqual(warnings, [
      "pod shop/web-2: Failed: Error: ErrImagePull",
      "pod shop/web-2: BackOff: Back-off pulling image",
    ]);
    assert.equal(
      describePodProblems([], warnings),
      "Warnings the stage's pods got during this deploy:\n  pod shop/web-2: Failed: Error: ErrImagePull\n  pod shop/web-2: BackOff: Back-off pulling image",
    );
  });
});
