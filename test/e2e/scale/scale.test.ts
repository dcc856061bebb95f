// One access stack of many stages, end to end, on a cluster instance of its own
// (`SCOPED_CD_CLUSTER=scale`: own state and ports, a kwok node). It is the suite's longest single
// `up` (about 1,400 resources), so it runs beside the other files instead of after the fault tests
// on the faults instance.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { adminClients } from "../kube";
import { createTestStack, execFileAsync, REPO, TestStack, uniqueSuffix } from "../support";

const SCALE_ENV = { ...process.env, SCOPED_CD_CLUSTER: "scale" };
const SCALE_STATE = path.join(REPO, ".local", "cluster-scale");

/** hack/cluster.sh on the scale instance. */
async function cluster(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("bash", [path.join(REPO, "hack/cluster.sh"), ...args], {
    env: SCALE_ENV,
    timeout: 180_000,
  });
  return stdout;
}

const seconds = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
const note = (text: string) => console.log(`      [scale] ${text}`);

describe("scale: one access stack of 50 stages, on the scale cluster", function () {
  this.timeout(15 * 60_000);
  const savedKubeconfig = process.env.KUBECONFIG;
  const suffix = uniqueSuffix();
  const fileStart = Date.now();
  let scale: TestStack | undefined;

  before(async function () {
    this.timeout(5 * 60_000);
    // A fresh cluster each run: its etcd data is this file's alone.
    await cluster("stop");
    fs.rmSync(path.join(SCALE_STATE, "etcd"), { recursive: true, force: true });
    const t0 = Date.now();
    await cluster("start");
    note(`scale cluster started in ${seconds(t0)}s`);
    process.env.KUBECONFIG = path.join(SCALE_STATE, "admin.kubeconfig");
  });

  after(async function () {
    this.timeout(5 * 60_000);
    await scale?.remove().catch((err) => console.error(String(err)));
    await cluster("stop").catch((err) => console.error(String(err)));
    if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = savedKubeconfig;
    note(`this file, cluster start to cluster stop: ${seconds(fileStart)}s`);
  });

  it("converges one access stack of 50 stages, and a second up shows no changes", async () => {
    const count = 50;
    // The file backend rewrites the whole checkpoint (about 4 KB per resource) after every step,
    // so an up of ~1,500 resources spends most of its time in the engine serialising the state
    // (measured without this: 1,238 resources in 10m21s, unfinished). The test skips the
    // intermediate checkpoints (the final state is written as usual); see docs/operations.md, Scale.
    scale = await createTestStack("scale", { PULUMI_SKIP_CHECKPOINTS: "true" });
    const stages = Object.fromEntries(
      Array.from({ length: count }, (_, i) => [
        `s${String(i).padStart(2, "0")}`,
        { namespace: `e2e-scale-${suffix}-${i}`, deletable: true },
      ]),
    );
    scale.setConfig({ mode: "access", cluster: { name: "scale" }, stages });
    const t0 = Date.now();
    const up = await scale.stack.up({ color: "never" });
    const first = seconds(t0);
    assert.equal(up.summary.result, "succeeded");
    const created = up.summary.resourceChanges?.create ?? 0;
    const t1 = Date.now();
    const again = await scale.stack.up({ expectNoChanges: true, color: "never" });
    note(
      `${count} stages: first up ${first}s (${created} resources created), second up ${seconds(t1)}s (${again.summary.resourceChanges?.same} unchanged)`,
    );
    assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
    const kubeconfigs = (await scale.stack.outputs()).kubeconfigs?.value as Record<string, string>;
    assert.equal(Object.keys(kubeconfigs).length, count);
    const admin = await adminClients();
    const namespaces = await admin.core.listNamespace();
    assert.equal(
      namespaces.items.filter((n) => n.metadata?.name?.startsWith(`e2e-scale-${suffix}-`)).length,
      count,
    );
  });
});
