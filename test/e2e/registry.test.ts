// Charts and images from a registry, as users have them (hack/lib/registry.sh): the local OCI
// registry serves the sample chart as an OCI artifact and its image under the upstream name, which
// the real node's containerd pulls through its docker.io mirror. A stage deploys the chart from
// oci:// at a pinned version through `scoped-cd deploy` with its scoped kubeconfig, and a second
// stack promoted from it deploys exactly that version, although the registry holds a newer one.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { adminClients, Clients } from "./kube";
import { realNode } from "./node";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  requireEnv,
  runCli,
  TestStack,
  uniqueSuffix,
} from "./support";

const suffix = uniqueSuffix();
const STAGES = { first: "reg-a", next: "reg-b" } as const;
const namespaceOf = (stage: string) => `e2e-${stage}-${suffix}`;
const qualified = (stack: string) => `organization/scoped-cd/${stack}`;
const IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.27.3-alpine";
const PINNED = "1.4.2"; // charts/storefront/Chart.yaml, pushed by hack/cluster.sh start
const NEWER = "1.5.0"; // pushed by this file: what an unpinned pull would take

interface Release {
  chart: string;
  version: string;
  status: string;
  promotedFrom?: { stack: string; revision: number };
}

describe("charts and images from the local OCI registry", function () {
  this.timeout(10 * 60_000);
  realNode();
  const registry = requireEnv("SCOPED_CD_REGISTRY");
  const chartRepo = requireEnv("SCOPED_CD_REGISTRY_CHART_REPO");
  const caDir = requireEnv("SCOPED_CD_REGISTRY_CA_DIR");
  const caFile = path.join(caDir, "ca.crt");
  // The Kubernetes provider's Helm fetches oci:// charts with its own registry client, which
  // takes the system roots only (repositoryOpts.caFile never reaches it): a CI agent trusts a
  // private registry's CA in its store, here through SSL_CERT_DIR (added to, not replacing, it).
  const trustRegistry = { SSL_CERT_DIR: `/etc/ssl/certs:${caDir}` };
  let admin: Clients;
  let access: TestStack;
  const delivery: Record<string, TestStack> = {};
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-registry-"));
  const kubeconfigOf = (stage: string) => path.join(dir, `${stage}.kubeconfig`);

  function configure(t: TestStack, stage: string, promoteFrom?: string) {
    t.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      stages: {
        [stage]: {
          namespace: namespaceOf(stage),
          ...(promoteFrom ? { promoteFrom: qualified(promoteFrom) } : {}),
          releases: {
            storefront: {
              repo: chartRepo,
              chart: "storefront",
              ...(promoteFrom ? {} : { version: PINNED }),
              values: { replicaCount: 1 },
              timeoutSeconds: 120,
            },
          },
        },
      },
    });
  }
  const deploy = (t: TestStack, stage: string, env: Record<string, string> = {}) =>
    runCli(
      [
        "deploy",
        "--stack",
        t.name,
        "--work-dir",
        t.workDir,
        "--kubeconfig-file",
        `${t.name}=${kubeconfigOf(stage)}`,
        "--output",
        "json",
      ],
      { KUBECONFIG: undefined, ...env },
    );
  /** The storefront release as the deploy's JSON reports it (from Helm's own status). */
  const releaseOf = (stdout: string, stage: string) =>
    (JSON.parse(stdout) as { stages: Record<string, { releases: Record<string, Release> }> })
      .stages[stage].releases.storefront;
  /** The chart version in Helm's own record of the release's latest revision (its Secret). */
  const helmRecordedVersion = async (stage: string) => {
    const secrets = await admin.core.listNamespacedSecret({
      namespace: namespaceOf(stage),
      labelSelector: "owner=helm,name=storefront",
    });
    const latest = secrets.items.sort(
      (a, b) => Number(b.metadata!.labels!.version) - Number(a.metadata!.labels!.version),
    )[0];
    const record = zlib.gunzipSync(
      Buffer.from(Buffer.from(latest.data!.release, "base64").toString(), "base64"),
    );
    return (JSON.parse(record.toString()) as { chart: { metadata: { version: string } } }).chart
      .metadata.version;
  };

  before(async () => {
    admin = await adminClients();
    access = await createTestStack("registry-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: Object.fromEntries(
        Object.values(STAGES).map((s) => [s, { namespace: namespaceOf(s), deletable: true }]),
      ),
    });
    const up = await access.stack.up({ onOutput: collect(access) });
    for (const stage of Object.values(STAGES)) {
      fs.writeFileSync(kubeconfigOf(stage), up.outputs.kubeconfigs.value[stage], { mode: 0o600 });
    }
    // A newer version of the chart in the same repository, pushed as a user's CI would.
    const chart = path.join(dir, "storefront");
    fs.cpSync(path.join(REPO, "charts/storefront"), chart, { recursive: true });
    const chartYaml = path.join(chart, "Chart.yaml");
    fs.writeFileSync(
      chartYaml,
      fs.readFileSync(chartYaml, "utf8").replace(`version: ${PINNED}`, `version: ${NEWER}`),
    );
    const helmEnv = {
      ...process.env,
      HELM_CONFIG_HOME: path.join(dir, "helm"),
      HELM_CACHE_HOME: path.join(dir, "helm-cache"),
      HELM_REGISTRY_CONFIG: path.join(dir, "helm", "registry.json"),
    };
    await execFileAsync("helm", ["package", chart, "-d", dir], { env: helmEnv, timeout: 60_000 });
    await execFileAsync(
      "helm",
      ["push", path.join(dir, `storefront-${NEWER}.tgz`), chartRepo, "--ca-file", caFile],
      { env: helmEnv, timeout: 60_000 },
    );
    for (const [key, stage] of Object.entries(STAGES)) {
      delivery[key] = await createTestStack(`registry-${key}`, {
        KUBECONFIG: path.join(dir, "no-admin"),
      });
      configure(delivery[key], stage, key === "next" ? delivery.first.name : undefined);
    }
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      for (const t of [...Object.values(delivery), access]) console.log(t?.log.join(""));
    }
    for (const t of [delivery.next, delivery.first, access]) {
      await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
      await t?.remove().catch(() => undefined);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("refuses the registry while its CA is not trusted, naming the certificate", async () => {
    const result = await deploy(delivery.first, STAGES.first);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /x509: certificate signed by unknown authority/);
    assert.match(result.stderr, new RegExp(`${registry.replace(/\./g, "\\.")}`));
  });

  it("deploys the chart from oci:// at its pinned version, its pods on the image containerd pulled from the registry", async () => {
    const result = await deploy(delivery.first, STAGES.first, trustRegistry);
    assert.equal(result.code, 0, result.stderr);
    const release = releaseOf(result.stdout, STAGES.first);
    assert.equal(release.chart, `${chartRepo}/storefront`);
    assert.equal(release.version, PINNED);
    assert.equal(release.status, "deployed");
    assert.equal(await helmRecordedVersion(STAGES.first), PINNED);

    // The pod runs the registry's manifest of the upstream name ...
    const { stdout: head } = await execFileAsync(
      "curl",
      [
        "-sfI",
        "--cacert",
        caFile,
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        `https://${registry}/v2/nginxinc/nginx-unprivileged/manifests/1.27.3-alpine`,
      ],
      { timeout: 30_000 },
    );
    const digest = /^docker-content-digest: (sha256:[0-9a-f]{64})/im.exec(head)?.[1];
    assert.ok(digest, `no digest in the registry's answer:\n${head}`);
    const pods = (
      await admin.core.listNamespacedPod({
        namespace: namespaceOf(STAGES.first),
        labelSelector: "app.kubernetes.io/instance=storefront",
      })
    ).items;
    assert.equal(pods.length, 1);
    const status = pods[0].status!.containerStatuses![0];
    assert.equal(status.image, IMAGE);
    assert.equal(status.imageID, `docker.io/nginxinc/nginx-unprivileged@${digest}`);
    assert.ok(status.ready, "the container runs and is Ready");

    // ... which containerd fetched from it through the mirror since this cluster start (the node
    // forgets the image at every containerd start and never imports it): the layer's GET, with the
    // upstream name's ns= and containerd's User-Agent, in the registry's access log.
    const manifest = JSON.parse(
      (
        await execFileAsync(
          "curl",
          [
            "-sf",
            "--cacert",
            caFile,
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            `https://${registry}/v2/nginxinc/nginx-unprivileged/manifests/${digest}`,
          ],
          { timeout: 30_000 },
        )
      ).stdout,
    ) as { layers: { digest: string }[] };
    const log = fs.readFileSync(requireEnv("SCOPED_CD_REGISTRY_LOG"), "utf8");
    const starts = [...log.matchAll(/^=== \S+ starting: /gm)];
    const sinceStart = log.slice(starts.at(-1)?.index ?? 0);
    const layerGet = new RegExp(
      `"GET /v2/nginxinc/nginx-unprivileged/blobs/${manifest.layers[0].digest}\\?ns=docker\\.io HTTP/[0-9.]+" 200 .*"containerd/`,
    );
    assert.match(sinceStart, layerGet);
  });

  it("promotes that exact version to the next stack, not the registry's newest", async () => {
    const result = await deploy(delivery.next, STAGES.next, trustRegistry);
    assert.equal(result.code, 0, result.stderr);
    const release = releaseOf(result.stdout, STAGES.next);
    assert.equal(release.chart, `${chartRepo}/storefront`);
    assert.equal(release.version, PINNED);
    assert.deepEqual(release.promotedFrom, { stack: qualified(delivery.first.name), revision: 1 });
    assert.equal(await helmRecordedVersion(STAGES.next), PINNED);
    // The newer version is there: an unpinned pull would have taken it.
    const { stdout: tags } = await execFileAsync(
      "curl",
      ["-sf", "--cacert", caFile, `https://${registry}/v2/charts/storefront/tags/list`],
      { timeout: 30_000 },
    );
    assert.ok((JSON.parse(tags) as { tags: string[] }).tags.includes(NEWER), tags);
  });
});
