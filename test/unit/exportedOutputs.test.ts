// Issue 20: the access up reads the stack's outputs from the one export its sweep reads anyway,
// in the shape the Automation API's outputs() gives them.
import * as assert from "node:assert/strict";
import { exportedOutputs } from "../../cli/lib/exportedOutputs";

const SIG = "4dabf18193072939515e22adb298388d";
const secret = (value: unknown) => ({
  [SIG]: "1b47061264138c4ac30d75fd1eb44270",
  plaintext: JSON.stringify(value),
});
const exportOf = (outputs: Record<string, unknown>) => ({
  version: 3,
  deployment: {
    resources: [
      { type: "pulumi:providers:kubernetes", urn: "p", outputs: { kubeconfig: "not me" } },
      { type: "pulumi:pulumi:Stack", urn: "s", outputs },
    ],
  },
});

describe("a stack's outputs from its export", () => {
  it("decrypts secret outputs and marks them secret; plain ones stay plain", () => {
    const outputs = exportedOutputs(
      exportOf({
        kubeconfigs: secret({ s1: "apiVersion: v1\n", s2: "x" }),
        stages: { s1: { namespace: "ns1", tiller: false, releases: [] } },
      }),
    );
    assert.deepEqual(outputs, {
      kubeconfigs: { value: { s1: "apiVersion: v1\n", s2: "x" }, secret: true },
      stages: { value: { s1: { namespace: "ns1", tiller: false, releases: [] } }, secret: false },
    });
  });

  it("counts a value holding a secret anywhere as a secret", () => {
    const outputs = exportedOutputs(
      exportOf({ stages: { s1: { token: secret("t") }, n: [1, secret(2)] } }),
    );
    assert.deepEqual(outputs.stages, { value: { s1: { token: "t" }, n: [1, 2] }, secret: true });
  });

  it("refuses an export whose secrets are still encrypted", () => {
    assert.throws(
      () =>
        exportedOutputs(
          exportOf({
            kubeconfigs: { [SIG]: "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc" },
          }),
        ),
      /encrypted secret output: export it with --show-secrets/,
    );
  });

  it("gives no outputs for a stack never deployed", () => {
    assert.deepEqual(exportedOutputs({ version: 3, deployment: {} }), {});
    assert.deepEqual(exportedOutputs(undefined), {});
  });
});
