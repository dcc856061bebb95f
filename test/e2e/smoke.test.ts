import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import * as yaml from "js-yaml";
import {
  collect,
  createTestStack,
  kubectl,
  requireEnv,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

describe("smoke: the dev stack on the local cluster", function () {
  this.timeout(10 * 60_000);
  const admin = requireEnv("KUBECONFIG");
  const namespace = `e2e-smoke-${uniqueSuffix()}`;
  let t: TestStack;

  before(async () => {
    t = await createTestStack("smoke");
    t.setConfig({
      mode: "all",
      cluster: { name: "local" },
      stages: {
        smoke: {
          namespace,
          deletable: true,
          tiller: { enabled: true },
          releases: { storefront: { chart: "./charts/storefront", values: { replicaCount: 2 } } },
        },
      },
    });
  });

  after(async function () {
    if (this.currentTest?.state === "failed") console.log(t.log.join(""));
    await t.stack.destroy({ onOutput: collect(t) }).catch(() => undefined);
    await t.remove().catch(() => undefined);
  });

  it("deploys the release through the scoped identity and its Deployment becomes Ready", async () => {
    const up = await t.stack.up({ onOutput: collect(t) });
    assert.equal(up.summary.result, "succeeded");
    const ready = await waitFor("the storefront Deployment to be Ready", 60, async () => {
      const out = await kubectl(
        admin,
        "get",
        "deployment",
        "storefront",
        "-n",
        namespace,
        "-o",
        "json",
      );
      const d = JSON.parse(out);
      return d.status.readyReplicas === 2 ? d : undefined;
    });
    assert.equal(ready.spec.replicas, 2);
    const stages = up.outputs.stages.value;
    assert.equal(stages.smoke.releases.storefront.status, "deployed");
    assert.equal(up.outputs.kubeconfigs.secret, true);
  });

  it("previews no changes on a second run", async () => {
    await t.stack.preview({ expectNoChanges: true, onOutput: collect(t) });
  });

  it("previews no changes for a second operator whose cluster-admin credential is another file", async () => {
    // Another admin, as a second operator would have: its own identity (a cluster-admin
    // ServiceAccount's token), context and user names, in a kubeconfig at another path.
    const name = `e2e-second-operator-${uniqueSuffix()}`;
    await kubectl(admin, "create", "serviceaccount", name, "-n", "kube-system");
    try {
      await kubectl(
        admin,
        "create",
        "clusterrolebinding",
        name,
        "--clusterrole=cluster-admin",
        `--serviceaccount=kube-system:${name}`,
      );
      const token = (
        await kubectl(admin, "create", "token", name, "-n", "kube-system", "--duration=10m")
      ).trim();
      const own = yaml.load(fs.readFileSync(admin, "utf8")) as { clusters: { cluster: unknown }[] };
      const other = path.join(t.workDir, "second-operator.kubeconfig");
      const doc = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "the-cluster", cluster: own.clusters[0].cluster }],
        users: [{ name: "second-operator", user: { token } }],
        contexts: [
          { name: "second", context: { cluster: "the-cluster", user: "second-operator" } },
        ],
        "current-context": "second",
      };
      fs.writeFileSync(other, yaml.dump(doc), { mode: 0o600 });
      (t.stack.workspace as LocalWorkspace).envVars.KUBECONFIG = other;
      await t.stack.preview({ expectNoChanges: true, onOutput: collect(t) });
    } finally {
      delete (t.stack.workspace as LocalWorkspace).envVars.KUBECONFIG;
      await kubectl(admin, "delete", "clusterrolebinding", name, "--ignore-not-found");
      await kubectl(
        admin,
        "delete",
        "serviceaccount",
        name,
        "-n",
        "kube-system",
        "--ignore-not-found",
      );
    }
  });

  it("destroys cleanly", async () => {
    const result = await t.stack.destroy({ onOutput: collect(t) });
    assert.equal(result.summary.result, "succeeded");
    await waitFor(`namespace ${namespace} to be gone`, 60, async () => {
      const out = await kubectl(
        admin,
        "get",
        "namespace",
        namespace,
        "--ignore-not-found",
        "-o",
        "name",
      );
      return out.trim() === "" ? true : undefined;
    });
  });
});
