// Delivery on the real node, as Jenkins runs it: `scoped-cd handoff` by the operator, `scoped-cd
// deploy` with the handed-over kubeconfig only. The rollout waits on real readiness (the kubelet
// runs the containers), a broken image fails it with the pod's own reason, and a pod killed and
// the kubelet restarted in the middle of a rollout leave nothing that the next deploy cannot
// converge.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { adminClients, Clients } from "./kube";
import { realNode } from "./node";
import {
  collect,
  createTestStack,
  REPO,
  runCli,
  TEST_PASSPHRASE,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const STAGE = "nd";
const NAMESPACE = `e2e-node-del-${suffix}`;

describe("delivery on the real node through scoped-cd deploy", function () {
  this.timeout(10 * 60_000);
  realNode();
  let admin: Clients;
  let access: TestStack;
  let delivery: TestStack;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-node-del-"));
  const kubeconfigFile = path.join(dir, `${STAGE}.kubeconfig`);

  function setRelease(values: Record<string, unknown>, timeoutSeconds = 120) {
    delivery.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      stages: {
        [STAGE]: {
          namespace: NAMESPACE,
          releases: { storefront: { chart: "./charts/storefront", values, timeoutSeconds } },
        },
      },
    });
  }
  const deployArgs = () => [
    "deploy",
    "--stack",
    delivery.name,
    "--work-dir",
    delivery.workDir,
    "--kubeconfig-file",
    `${delivery.name}=${kubeconfigFile}`,
  ];
  const deploy = () => runCli(deployArgs(), { KUBECONFIG: undefined });

  const readyPods = async () =>
    (
      await admin.core.listNamespacedPod({
        namespace: NAMESPACE,
        labelSelector: "app.kubernetes.io/instance=storefront",
      })
    ).items.filter((p) =>
      p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
  const releaseSecrets = async () =>
    (await admin.core.listNamespacedSecret({ namespace: NAMESPACE, labelSelector: "owner=helm" }))
      .items;

  before(async () => {
    admin = await adminClients();
    access = await createTestStack("node-del-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: { [STAGE]: { namespace: NAMESPACE, deletable: true } },
    });
    const handoff = await runCli([
      "handoff",
      "--stack",
      access.name,
      "--work-dir",
      access.workDir,
      "--out",
      kubeconfigFile,
      "--yes",
    ]);
    assert.equal(handoff.code, 0, handoff.stderr);
    delivery = await createTestStack("node-del", { KUBECONFIG: path.join(dir, "no-admin") });
  });

  after(async () => {
    for (const t of [delivery, access]) {
      await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
      await t?.remove().catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("completes a rollout on real readiness: the containers run when deploy returns", async () => {
    setRelease({ replicaCount: 2 });
    const result = await deploy();
    assert.equal(result.code, 0, result.stderr);
    // No wait here: deploy returned because the kubelet reported both containers Ready.
    const ready = await readyPods();
    assert.equal(ready.length, 2);
    for (const p of ready) {
      const status = p.status!.containerStatuses![0];
      assert.match(status.containerID ?? "", /^containerd:\/\//);
      assert.ok(status.state?.running?.startedAt, "the container runs");
      assert.equal(p.spec!.nodeName, process.env.SCOPED_CD_NODE_NAME);
    }
  });

  it("fails a rollout with a broken image, naming the pod's reason", async () => {
    setRelease({ replicaCount: 2, image: { tag: "no-such-tag" } }, 45);
    const result = await deploy();
    assert.notEqual(result.code, 0);
    // Helm's atomic rollback has removed the failing pods by now: their Warnings remain.
    assert.match(result.stderr, /Warnings the stage's pods got during this deploy/);
    assert.match(
      result.stderr,
      new RegExp(
        `pod ${NAMESPACE}/storefront-\\S+: \\w+: .*(ErrImagePull|ImagePullBackOff|Failed to pull image)`,
      ),
    );
    // What was deployed before keeps serving: the old ReplicaSet's pods stay Ready.
    assert.ok((await readyPods()).length >= 1);
  });

  it("converges after a pod is killed and the kubelet restarted in the middle of a rollout", async () => {
    setRelease({ replicaCount: 2, greeting: "after the kubelet restart" });
    const releaseUidsBefore = (await releaseSecrets()).map((s) => s.metadata!.uid).sort();
    const deploymentUid = (
      await admin.apps.readNamespacedDeployment({ name: "storefront", namespace: NAMESPACE })
    ).metadata!.uid;
    // Start the rollout, then, while it waits: kill a pod and restart the kubelet.
    const running = runCli(deployArgs(), { KUBECONFIG: undefined });
    await waitFor("the rollout to start (a new ReplicaSet)", 120, async () => {
      const sets = await admin.apps.listNamespacedReplicaSet({ namespace: NAMESPACE });
      return sets.items.length >= 3 ? true : undefined;
    });
    const victim = (await admin.core.listNamespacedPod({ namespace: NAMESPACE })).items[0];
    await admin.core.deleteNamespacedPod({
      name: victim.metadata!.name!,
      namespace: NAMESPACE,
      gracePeriodSeconds: 0,
    });
    await restartKubelet();
    await running; // succeeded or failed: the next deploy must converge either way
    const again = await deploy();
    assert.equal(again.code, 0, again.stderr);
    const ready = await waitFor("two Ready pods of the new revision", 60, async () => {
      const pods = await readyPods();
      return pods.length === 2 ? pods : undefined;
    });
    assert.equal(ready.length, 2);
    const config = await admin.core.readNamespacedConfigMap({
      name: "storefront-config",
      namespace: NAMESPACE,
    });
    assert.equal(config.data!.greeting, "after the kubelet restart");
    // Nothing lost: the same Deployment, every Helm revision before still recorded.
    const after = await admin.apps.readNamespacedDeployment({
      name: "storefront",
      namespace: NAMESPACE,
    });
    assert.equal(after.metadata!.uid, deploymentUid);
    const uidsNow = new Set((await releaseSecrets()).map((s) => s.metadata!.uid));
    for (const uid of releaseUidsBefore) assert.ok(uidsNow.has(uid), "a Helm revision was lost");
  });
});

/** Stop and start the node's kubelet (hack/cluster.sh), bounded by the script's own waits. */
async function restartKubelet(): Promise<void> {
  for (const action of ["stop-component", "start-component"]) {
    await new Promise<void>((resolve, reject) => {
      const p = spawn("bash", [path.join(REPO, "hack/cluster.sh"), action, "kubelet"], {
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: TEST_PASSPHRASE },
      });
      p.on("error", reject);
      p.on("exit", (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`hack/cluster.sh ${action} kubelet: exit ${code}`)),
      );
    });
  }
}
