// The program's live side is handed in, not guessed: the admin credential check runs before any
// registration and can stop it, and an authoritative object's reconcile token follows what the
// live read finds (components/access/liveCluster.ts, authoritative.ts).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { RECONCILE_ANNOTATION } from "../../components/access/authoritative";
import { accessModeConfig } from "./fixtures";
import { ADMIN_KUBECONFIG, offlineCluster, runProgram } from "./harness";

const LIMITS = "kubernetes:core/v1:LimitRange";

async function declaredLimits(): Promise<{ key: string; spec: { limits: unknown[] } }> {
  const result = await runProgram(accessModeConfig());
  const limits = result.one(LIMITS, "-limits");
  assert.equal(limits.inputs.metadata.annotations[RECONCILE_ANNOTATION], "0");
  const key = `LimitRange/${limits.inputs.metadata.namespace}/${limits.inputs.metadata.name}`;
  return { key, spec: limits.inputs.spec };
}

async function reconcileTokenOf(live: Record<string, Record<string, unknown>>): Promise<string> {
  const result = await runProgram(accessModeConfig(), { cluster: offlineCluster(live) });
  if (result.error) throw result.error;
  return result.one(LIMITS, "-limits").inputs.metadata.annotations[RECONCILE_ANNOTATION] as string;
}

describe("the live cluster the program is handed", () => {
  it("stops the program before any registration when the admin credential check fails", async () => {
    const refused = new pulumi.RunError("scoped-cd:cluster: 401 Unauthorized (test)");
    const seen: string[] = [];
    const result = await runProgram(accessModeConfig(), {
      cluster: {
        checkAdminCredential: async (_kc, check) => {
          seen.push(check.mode);
          throw refused;
        },
        read: async () => undefined,
      },
    });
    assert.deepEqual(seen, ["access"]);
    assert.equal(result.error, refused);
    const custom = result.registrations.filter((r) => r.custom && !r.type.startsWith("pulumi:"));
    assert.deepEqual(custom, [], "nothing may be registered after a refused admin credential");
  });

  it("keeps the live reconcile token when the live object has nothing the declaration lacks", async () => {
    const { key, spec } = await declaredLimits();
    const token = await reconcileTokenOf({
      [key]: { metadata: { annotations: { [RECONCILE_ANNOTATION]: "abc" } }, spec },
    });
    assert.equal(token, "abc");
  });

  it("changes the reconcile token when the live object carries an appended entry", async () => {
    const { key, spec } = await declaredLimits();
    const widened = { limits: [...spec.limits, { type: "Container", max: { cpu: "64" } }] };
    const token = await reconcileTokenOf({
      [key]: { metadata: { annotations: { [RECONCILE_ANNOTATION]: "abc" } }, spec: widened },
    });
    assert.match(token, /^[0-9a-f]{12}$/);
  });

  it("gives the admin provider the same inputs whichever path the operator's kubeconfig is at", async () => {
    const elsewhere = path.join(
      fs.mkdtempSync(path.join(os.tmpdir(), "scd-admin-")),
      "other.kubeconfig",
    );
    fs.copyFileSync(ADMIN_KUBECONFIG, elsewhere);
    const adminInputs = async (adminKubeconfig: string) => {
      const result = await runProgram(accessModeConfig(), { adminKubeconfig });
      if (result.error) throw result.error;
      const admin = result.byType("pulumi:providers:kubernetes").filter((r) => r.name === "admin");
      assert.equal(admin.length, 1);
      return admin[0].inputs;
    };
    const first = await adminInputs(ADMIN_KUBECONFIG);
    const second = await adminInputs(elsewhere);
    // A second operator's preview would otherwise show the provider updated (kubeconfig path).
    assert.equal(first.kubeconfig, "");
    assert.deepEqual(second, first);
    assert.ok(
      !JSON.stringify(first).includes(path.dirname(ADMIN_KUBECONFIG)),
      JSON.stringify(first),
    );
  });
});
