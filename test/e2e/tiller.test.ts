// Tiller (Helm v2) proven with the real Helm v2 client and Tiller v2.17.0 (hack/toolchain/helm2),
// against the real API server. One access stack, two stages: `c` runs Tiller in the cluster, as a
// real container on the local cluster's real node (the image is the toolchain's own tiller build,
// hack/toolchain.sh images), reached by the Helm v2 client through port-forward with the stage's
// scoped kubeconfig only; `l` runs it locally through `scoped-cd helm2`.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { adminClients, canI, Clients, clientsFor, statusOf, tokenOf } from "./kube";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const NS_C = `e2e-tiller-c-${suffix}`;
const NS_L = `e2e-tiller-l-${suffix}`;
const CHARTS = path.join(REPO, "test/e2e/charts");
const STOREFRONT = path.join(CHARTS, "helm2-storefront");

function stackConfig(rotation: string) {
  return {
    mode: "access",
    cluster: { name: "local" },
    stages: {
      c: {
        namespace: NS_C,
        deletable: true,
        // allowRbac: the scoped identity may then read Tiller's live Role, which verify compares.
        deployer: { rotation, allowRbac: true },
        tiller: { enabled: true, mode: "cluster" },
      },
      l: { namespace: NS_L, deletable: true, tiller: { enabled: true, mode: "local" } },
    },
  };
}

/** What a transcript line shows: the command and its output (E2E_VERBOSE prints them). */
const transcript: string[] = [];
function record(command: string, out: string) {
  transcript.push(`$ ${command}\n${out.trimEnd()}\n`);
}

/**
 * helm2 through port-forward to the in-cluster Tiller of `namespace`, with the kubeconfig file
 * given (and no other credential); resolves with exit code and output (never rejects).
 */
async function helm2(
  target: { kubeconfig: string; tillerNamespace: string },
  helmHome: string,
  ...args: string[]
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      "helm2",
      ["--tiller-namespace", target.tillerNamespace, ...args],
      {
        env: { ...process.env, HELM_HOME: helmHome, KUBECONFIG: target.kubeconfig },
        timeout: 120_000,
      },
    );
    record(`helm2 ${args.join(" ")}`, stdout + stderr);
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    const out = (e.stdout ?? "") + (e.stderr ?? "");
    record(`helm2 ${args.join(" ")}  # exit ${e.code}`, out);
    return { code: e.code, out };
  }
}

describe("Tiller with a real Helm v2 client", function () {
  this.timeout(5 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let kubeconfigs: Record<string, string>;
  let tillerAccount: string;
  let tillerToken: string;
  let target: { kubeconfig: string; tillerNamespace: string };
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-tiller-e2e-")); // 0700
  const helmHome = path.join(tmp, "helm-home");

  before(async () => {
    admin = await adminClients();
    t = await createTestStack("tiller");
    t.setConfig(stackConfig("r1"));
    const up = await t.stack.up({ onOutput: collect(t) });
    kubeconfigs = up.outputs.kubeconfigs.value;
    tillerAccount = up.outputs.stages.value.c.tiller.serviceAccount;
    await execFileAsync("helm2", ["init", "--client-only", "--skip-repos"], {
      env: { ...process.env, HELM_HOME: helmHome },
      timeout: 30_000,
    });
  });

  after(async function () {
    if (process.env.E2E_VERBOSE) console.log(transcript.join("\n"));
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  describe("in the cluster (tiller.mode cluster), as a real container with its own ServiceAccount", () => {
    before(async () => {
      // A token of Tiller's ServiceAccount, minted with the admin credential as the kubelet does
      // for the pod: the rotation test below shows that a copy of it dies with the rotation.
      const minted = await admin.core.createNamespacedServiceAccountToken({
        name: tillerAccount,
        namespace: NS_C,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      });
      tillerToken = minted.status!.token;
      // The stage's scoped kubeconfig is all the Helm client gets (a 0600 file in a 0700 dir).
      const kubeconfig = path.join(tmp, "scoped.kubeconfig");
      fs.writeFileSync(kubeconfig, kubeconfigs.c, { mode: 0o600 });
      target = { kubeconfig, tillerNamespace: NS_C };
      await waitFor("the Tiller pod to run and be Ready", 120, async () => {
        const pods = await admin.core.listNamespacedPod({
          namespace: NS_C,
          labelSelector: "app=helm,name=tiller",
        });
        return pods.items.some((p) =>
          p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
          ? true
          : undefined;
      });
    });

    it("runs Tiller's process as non-root, with no capabilities, on a read-only root filesystem", async () => {
      const pod = (
        await admin.core.listNamespacedPod({
          namespace: NS_C,
          labelSelector: "app=helm,name=tiller",
        })
      ).items[0];
      assert.equal(pod.spec!.serviceAccountName, tillerAccount);
      const containerId = pod.status!.containerStatuses![0].containerID!.replace(
        /^containerd:\/\//,
        "",
      );
      // The container's process as the kernel sees it (containerd's task list gives its PID).
      const { stdout: tasks } = await execFileAsync("ctr", [
        "--address",
        process.env.SCOPED_CD_CONTAINERD_SOCK!,
        "-n",
        "k8s.io",
        "tasks",
        "ls",
      ]);
      const pid = tasks
        .split("\n")
        .find((l) => l.startsWith(containerId))
        ?.split(/\s+/)[1];
      assert.ok(pid, `no task for container ${containerId}`);
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      assert.match(
        fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"),
        /^\/tiller\0--storage=secret\0/,
      );
      assert.match(status, /^Uid:\t65534\t65534\t65534\t65534$/m);
      assert.match(status, /^Gid:\t65534\t65534\t65534\t65534$/m);
      assert.match(status, /^CapEff:\t0000000000000000$/m);
      assert.match(status, /^CapPrm:\t0000000000000000$/m);
      assert.match(status, /^NoNewPrivs:\t1$/m);
      assert.match(status, /^Seccomp:\t2$/m, "RuntimeDefault seccomp filter");
      const root = fs
        .readFileSync(`/proc/${pid}/mountinfo`, "utf8")
        .split("\n")
        .find((l) => l.split(" ")[4] === "/");
      assert.match(root ?? "", /^\S+ \S+ \S+ \S+ \/ (ro|ro,\S*) /, `root mount: ${root}`);
      // And the gRPC port is on the pod's loopback only: no Service, nothing on the pod IP.
      const services = await admin.core.listNamespacedService({ namespace: NS_C });
      assert.deepEqual(
        services.items.filter((s) => s.spec?.ports?.some((p) => p.port === 44134)),
        [],
      );
      const { stdout: listening } = await execFileAsync("nsenter", [
        `--net=/proc/${pid}/ns/net`,
        "ss",
        "-Hltn",
      ]);
      assert.match(listening, /127\.0\.0\.1:44134/);
      assert.doesNotMatch(listening, /(\*|0\.0\.0\.0|\[::\]):44134/);
    });

    it("installs, upgrades, lists and rolls back the sample chart in the stage namespace", async () => {
      const install = await helm2(
        target,
        helmHome,
        "install",
        STOREFRONT,
        "--name",
        "web",
        "--namespace",
        NS_C,
      );
      assert.equal(install.code, 0, install.out);
      // What Tiller installed runs on the node.
      await waitFor("the release's Deployment to be Ready", 90, async () => {
        const d = await admin.apps.readNamespacedDeployment({ name: "web", namespace: NS_C });
        return d.status?.readyReplicas === d.spec?.replicas ? true : undefined;
      });
      const upgrade = await helm2(
        target,
        helmHome,
        "upgrade",
        "web",
        STOREFRONT,
        "--set",
        "greeting=second",
      );
      assert.equal(upgrade.code, 0, upgrade.out);
      const greeting = async () =>
        (await admin.core.readNamespacedConfigMap({ name: "web-config", namespace: NS_C })).data!
          .greeting;
      assert.equal(await greeting(), "second");
      const rollback = await helm2(target, helmHome, "rollback", "web", "1");
      assert.equal(rollback.code, 0, rollback.out);
      assert.equal(await greeting(), "hello from scoped-cd");
      const ls = await helm2(target, helmHome, "ls", "--all");
      assert.match(
        ls.out,
        new RegExp(`web\\s+3\\s.*DEPLOYED\\s+helm2-storefront-1.4.2\\s.*${NS_C}`),
      );
      await helm2(target, helmHome, "history", "web");
      // Release records: Secrets in the stage namespace, owned by Tiller.
      const records = await admin.core.listNamespacedSecret({
        namespace: NS_C,
        labelSelector: "OWNER=TILLER,NAME=web",
      });
      assert.deepEqual(records.items.map((s) => s.metadata!.name).sort(), [
        "web.v1",
        "web.v2",
        "web.v3",
      ]);
    });

    for (const [chart, refused, left] of [
      ["helm2-escape-cluster", /clusterrolebindings.* is forbidden/, "clusterrolebinding"],
      ["helm2-escape-namespace", /configmaps.* is forbidden.*namespace "default"/, "configmap"],
    ] as const) {
      it(`refuses ${chart} with the API server's 403, and nothing outside the namespace changes`, async () => {
        const name = `esc-${chart.includes("cluster") ? "c" : "n"}`;
        const result = await helm2(
          target,
          helmHome,
          "install",
          path.join(CHARTS, chart),
          "--name",
          name,
          "--namespace",
          NS_C,
        );
        assert.notEqual(result.code, 0);
        assert.match(result.out, refused);
        assert.match(result.out, new RegExp(`system:serviceaccount:${NS_C}:${tillerAccount}`));
        const status =
          left === "clusterrolebinding"
            ? await statusOf(admin.rbac.readClusterRoleBinding({ name: `${name}-escape` }))
            : await statusOf(
                admin.core.readNamespacedConfigMap({
                  name: `${name}-escape`,
                  namespace: "default",
                }),
              );
        assert.equal(status, 404, `the ${left} exists`);
      });
    }
  });

  describe("locally (tiller.mode local), through scoped-cd helm2", () => {
    const helm2Cli = (...helmArgs: string[]) =>
      runCli(
        ["helm2", "--stack", t.name, "--stage", "l", "--work-dir", t.workDir, "--", ...helmArgs],
        { HELM_HOME: helmHome, KUBECONFIG: "/nonexistent" },
      ).then((r) => {
        record(
          `scoped-cd helm2 --stack <s> --stage l -- ${helmArgs.join(" ")}  # exit ${r.code}`,
          r.stdout + r.stderr,
        );
        return r;
      });
    const leftovers = () =>
      fs
        .readdirSync(os.tmpdir())
        .filter((n) => n.startsWith("scoped-cd-helm2-"))
        .sort();

    it("declares no Tiller identity, and the deployer holds no port-forward", async () => {
      const names = async (list: Promise<{ items: { metadata?: { name?: string } }[] }>) =>
        (await list).items.map((i) => i.metadata!.name!).filter((n) => n.startsWith("tiller"));
      assert.deepEqual(
        await names(admin.core.listNamespacedServiceAccount({ namespace: NS_L })),
        [],
      );
      assert.deepEqual(await names(admin.rbac.listNamespacedRole({ namespace: NS_L })), []);
      assert.deepEqual(await names(admin.rbac.listNamespacedRoleBinding({ namespace: NS_L })), []);
      assert.deepEqual(await names(admin.apps.listNamespacedDeployment({ namespace: NS_L })), []);
      const forward = { verb: "create", resource: "pods", subresource: "portforward" };
      const local = await clientsFor(kubeconfigs.l);
      assert.equal(await canI(local, { ...forward, namespace: NS_L }), false);
      const cluster = await clientsFor(kubeconfigs.c);
      assert.equal(await canI(cluster, { ...forward, namespace: NS_C }), true);
    });

    it("installs, upgrades, lists and rolls back with only the stage's credential, then stops Tiller", async () => {
      const before = leftovers();
      assert.equal((await helm2Cli("install", STOREFRONT, "--name", "web")).code, 0);
      assert.equal((await helm2Cli("upgrade", "web", STOREFRONT, "--set", "greeting=b")).code, 0);
      assert.equal((await helm2Cli("rollback", "web", "1")).code, 0);
      const ls = await helm2Cli("ls");
      assert.equal(ls.code, 0, ls.stderr);
      assert.match(
        ls.stdout,
        new RegExp(`web\\s+3\\s.*DEPLOYED\\s+helm2-storefront-1.4.2\\s.*${NS_L}`),
      );
      const records = await admin.core.listNamespacedSecret({
        namespace: NS_L,
        labelSelector: "OWNER=TILLER,NAME=web",
      });
      assert.equal(records.items.length, 3);
      assert.deepEqual(leftovers(), before, "a temporary kubeconfig dir was left behind");
      const { stdout: ps } = await execFileAsync("ps", ["-eo", "args"]);
      assert.ok(!ps.includes(`TILLER_NAMESPACE=${NS_L}`));
      assert.ok(
        !/tiller --storage=secret --listen=127\.0\.0\.1/.test(ps),
        "a local Tiller still runs",
      );
    });

    it("passes helm's failure through: the escape chart is refused as the deployer", async () => {
      const result = await helm2Cli(
        "install",
        path.join(CHARTS, "helm2-escape-cluster"),
        "--name",
        "esc",
      );
      assert.equal(result.code, 1);
      assert.match(result.stderr, /clusterrolebindings.* is forbidden/);
      assert.match(result.stderr, /system:serviceaccount:e2e-tiller-l-[0-9a-f]+:deployer-/);
    });

    it("refuses a stage whose Tiller runs in the cluster", async () => {
      const result = await runCli(
        ["helm2", "--stack", t.name, "--stage", "c", "--work-dir", t.workDir, "--", "ls"],
        { HELM_HOME: helmHome },
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /stage c runs Tiller in the cluster/);
    });
  });

  // (describes, not bare its: mocha runs a suite's own tests before its child suites)
  describe("verify", () => {
    it("covers Tiller in both modes", async () => {
      const result = await runCli(["verify", "--stack", t.name, "--work-dir", t.workDir]);
      record(`scoped-cd verify --stack <s>  # exit ${result.code}`, result.stdout);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`Tiller's ServiceAccount is ${tillerAccount}`));
      assert.match(result.stdout, /ok .* Tiller's Role \(live\) grants nothing the deployer lacks/);
      assert.match(
        result.stdout,
        new RegExp(`no Tiller ServiceAccount \\(tiller\\*\\) in ${NS_L}`),
      );
    });
  });

  describe("rotation", () => {
    it("kills a Tiller token minted before it (401)", async () => {
      const asTiller = async () =>
        statusOf(
          (
            await clientsFor(kubeconfigs.c.replace(await tokenOf(kubeconfigs.c), tillerToken))
          ).authz.createSelfSubjectRulesReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectRulesReview",
              spec: { namespace: NS_C },
            },
          }),
        );
      assert.equal(await asTiller(), 0, "the Tiller token works before the rotation");
      t.setConfig(stackConfig("r2"));
      const up = await t.stack.up({ onOutput: collect(t) });
      assert.notEqual(up.outputs.stages.value.c.tiller.serviceAccount, tillerAccount);
      await waitFor("a 401 for the old Tiller token", 30, async () =>
        (await asTiller()) === 401 ? true : undefined,
      );
    });
  });
});
