// Containment on running workloads: real pods on the local cluster's real node (hack/lib/node.sh),
// real packets, NetworkPolicies enforced by kube-router. Every probe starts inside a pod and
// targets an address the harness created (a pod, a Service, the API server's node-side address,
// or a stand-in server in a harness network namespace); every refusal is set against a positive
// control: the same probe from a namespace without the stage's policies succeeds.
import * as assert from "node:assert/strict";
import * as http from "node:http";
import { adminClients, bearerRequest, Clients, clientsFor, messageOf, statusOf } from "./kube";
import {
  execIn,
  httpFrom,
  inNetns,
  podReady,
  probeDeployment,
  probePod,
  realNode,
  tcpOpens,
} from "./node";
import {
  collect,
  createTestStack,
  execFileAsync,
  kubectl,
  requireEnv,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const suffix = uniqueSuffix();
const NS_ISO = `e2e-node-iso-${suffix}`;
const NS_OPEN = `e2e-node-open-${suffix}`;
const NS_FREE = `e2e-node-free-${suffix}`;
const API_SERVICE = { host: "10.96.0.1", port: 443 };

describe("containment on the real node: pods, packets and NetworkPolicies", function () {
  this.timeout(10 * 60_000);
  const admin = requireEnv("KUBECONFIG");
  const node = realNode();
  let t: TestStack;
  let adminApi: Clients;
  let isoScoped: string;
  const ip: Record<string, string> = {};

  before(async () => {
    adminApi = await adminClients();
    t = await createTestStack("node-net");
    t.setConfig({
      mode: "all",
      cluster: { name: "local" },
      stages: {
        iso: {
          namespace: NS_ISO,
          deletable: true,
          guardrails: {
            // An allowed "outside" CIDR (a harness namespace), and a link-local one that contains
            // the metadata address (which stays excepted).
            egress: { allow: [{ cidr: "198.19.1.0/24" }, { cidr: "169.254.0.0/16" }] },
          },
          releases: { storefront: { chart: "./charts/storefront" } },
        },
        open: {
          namespace: NS_OPEN,
          deletable: true,
          guardrails: { isolateNetwork: false, egress: { isolate: false } },
          releases: { storefront: { chart: "./charts/storefront" } },
        },
      },
    });
    const up = await t.stack.up({ onOutput: collect(t) });
    assert.equal(up.summary.result, "succeeded");
    const kubeconfigs = up.outputs.kubeconfigs.value as Record<string, string>;
    isoScoped = kubeconfigs.iso;
    // Probe pods, made by the harness (the deployer creates workloads, never bare pods): in both
    // stages, and in a namespace of the harness's own with no policies at all, the positive control.
    await adminApi.core.createNamespace({ body: { metadata: { name: NS_FREE } } });
    for (const ns of [NS_ISO, NS_OPEN, NS_FREE])
      await adminApi.objects.create(probePod(ns, "probe"));
    for (const ns of [NS_ISO, NS_OPEN, NS_FREE])
      ip[`${ns}/probe`] = await podReady(admin, ns, "probe");
    for (const ns of [NS_ISO, NS_OPEN]) {
      const pods = JSON.parse(
        await kubectl(
          admin,
          "get",
          "pods",
          "-n",
          ns,
          "-l",
          "app.kubernetes.io/instance=storefront",
          "-o",
          "json",
        ),
      );
      const name = pods.items[0].metadata.name as string;
      ip[`${ns}/storefront`] = await podReady(admin, ns, name);
    }
    // kube-router programs a new pod's rules on its pod event; give it a moment past Ready.
    await new Promise((r) => setTimeout(r, 2000));
  });

  after(async function () {
    if (this.currentTest?.state === "failed") console.log(t?.log.join(""));
    await adminApi?.core.deleteNamespace({ name: NS_FREE }).catch(() => undefined);
    await t?.stack.destroy({ onOutput: collect(t) }).catch(() => undefined);
    await t?.remove().catch(() => undefined);
  });

  /** The positive control and the probe under test, side by side. */
  async function refusedButOpenFromFree(target: string, port: number, fromNs = NS_ISO) {
    const control = await tcpOpens(admin, NS_FREE, "probe", target, port);
    assert.ok(
      control.open,
      `positive control: ${target}:${port} from ${NS_FREE} (no policy): ${control.detail}`,
    );
    for (let attempt = 0; attempt < 2; attempt++) {
      const probe = await tcpOpens(admin, fromNs, "probe", target, port);
      assert.ok(!probe.open, `${target}:${port} is reachable from ${fromNs}`);
      assert.match(probe.detail, /refused|timed out|timeout|exit 1/i);
    }
  }

  describe("isolation from the machine's uplink", () => {
    it("gives the node and every harness namespace no default route", async () => {
      for (const ns of [node.netns, node.sentinelNetns]) {
        assert.equal((await inNetns(ns, "ip", "route", "show", "default")).trim(), "", ns);
      }
      // A pod's default route ends at the node's bridge, which has nowhere to send it on.
      const routes = await execIn(admin, NS_FREE, "probe", "ip route");
      assert.match(routes.stdout, /^default via 10\.244\.0\.1/m);
    });

    it("drops a pod's connection to an address beyond the node inside the machine", async () => {
      // The sentinel server is reachable from the host only: if pod traffic ever left the node
      // towards the host (and on to the uplink), this is where it would arrive.
      const fromHost = await new Promise<number>((resolve, reject) => {
        http
          .get({ host: node.sentinelIp, port: 80, path: "/", timeout: 3000 }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject);
      });
      assert.equal(fromHost, 200, "positive control: the host reaches the sentinel");
      // From the free namespace: no NetworkPolicy, so only the routing stops it.
      const probe = await tcpOpens(admin, NS_FREE, "probe", node.sentinelIp, 80);
      assert.ok(!probe.open);
      assert.match(probe.detail, /unreachable|timed out|timeout/i);
      // And nothing but the host's own packets ever reached the sentinel.
      const counters = await inNetns(node.sentinelNetns, "iptables", "-nvxL", "INPUT");
      const line = counters.split("\n").find((l) => l.includes("scoped-cd-not-from-host"))!;
      assert.equal(line.trim().split(/\s+/)[0], "0", counters);
    });
  });

  describe("the sample chart on the real node", () => {
    it("runs the storefront and answers HTTP from another pod of the stage, through DNS and the Service", async () => {
      const page = await httpFrom(admin, NS_ISO, "probe", `storefront.${NS_ISO}.svc.cluster.local`);
      assert.equal(page.status, "200", page.error);
      assert.match(page.body, /storefront/);
      const greeting = await httpFrom(
        admin,
        NS_ISO,
        "probe",
        "storefront",
        80,
        "/cgi-bin/greeting",
      );
      assert.equal(greeting.status, "200", greeting.error);
      assert.equal(greeting.body.trim(), "hello from scoped-cd");
    });

    it("resolves cluster names through the kube-dns Service the egress policy admits", async () => {
      const r = await execIn(
        admin,
        NS_ISO,
        "probe",
        "nslookup kubernetes.default.svc.cluster.local",
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Address:\s*10\.96\.0\.1\b/);
    });
  });

  describe("egress from an isolated stage", () => {
    it("never reaches the cloud metadata stand-in, even inside an allowed link-local CIDR", async () => {
      await refusedButOpenFromFree(node.metadataIp, 80);
      // The wider allowance itself works: its other address answers.
      const neighbour = await httpFrom(admin, NS_ISO, "probe", node.linkLocalIp);
      assert.equal(neighbour.status, "200", neighbour.error);
    });

    it("cannot reach the API server (the kubernetes Service)", async () => {
      await refusedButOpenFromFree(API_SERVICE.host, API_SERVICE.port);
    });

    it("cannot reach another stage's pods", async () => {
      await refusedButOpenFromFree(ip[`${NS_OPEN}/storefront`], 8080);
    });

    it("reaches an allowed harness CIDR, and not a harness address outside the allowances", async () => {
      const allowed = await httpFrom(admin, NS_ISO, "probe", node.extAllowedIp);
      assert.equal(allowed.status, "200", allowed.error);
      await refusedButOpenFromFree(node.extDeniedIp, 80);
    });

    it("reaches its own pods", async () => {
      const own = await httpFrom(admin, NS_ISO, "probe", ip[`${NS_ISO}/storefront`], 8080);
      assert.equal(own.status, "200", own.error);
    });
  });

  describe("ingress into a stage", () => {
    it("refuses a pod of another namespace; isolateNetwork: false lifts it", async () => {
      const control = await httpFrom(admin, NS_FREE, "probe", ip[`${NS_OPEN}/storefront`], 8080);
      assert.equal(control.status, "200", `the open stage admits it: ${control.error}`);
      const probe = await tcpOpens(admin, NS_FREE, "probe", ip[`${NS_ISO}/storefront`], 8080);
      assert.ok(!probe.open, "the isolated stage's pod is reachable from another namespace");
      // From the open stage too (a stage's pods are no more trusted than any other namespace's).
      const fromStage = await tcpOpens(admin, NS_OPEN, "probe", ip[`${NS_ISO}/storefront`], 8080);
      assert.ok(!fromStage.open);
    });
  });

  describe("credentials inside the stage", () => {
    it("leaves a pod's own ServiceAccount token (the namespace's default account) with no rights", async () => {
      await adminApi.objects.create(probePod(NS_ISO, "token-holder", { automountToken: true }));
      await podReady(admin, NS_ISO, "token-holder");
      const read = await execIn(
        admin,
        NS_ISO,
        "token-holder",
        "cat /var/run/secrets/kubernetes.io/serviceaccount/token",
      );
      assert.equal(read.code, 0, read.stderr);
      const token = read.stdout.trim();
      // The pod cannot reach the API server at all (egress); a thief who carries the token out
      // of the pod gets nothing with it either.
      const kc = (await clientsFor(isoScoped)).kc;
      const api = {
        server: kc.getCurrentCluster()!.server,
        ca: Buffer.from(kc.getCurrentCluster()!.caData!, "base64"),
      };
      const pods = await bearerRequest(api, token, "GET", `/api/v1/namespaces/${NS_ISO}/pods`);
      assert.equal(pods.status, 403);
      const secrets = await bearerRequest(
        api,
        token,
        "GET",
        `/api/v1/namespaces/${NS_ISO}/secrets`,
      );
      assert.equal(secrets.status, 403);
      const rules = await bearerRequest(
        api,
        token,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SelfSubjectRulesReview",
          spec: { namespace: NS_ISO },
        },
      );
      assert.equal(rules.status, 201);
      const granted = (rules.body.status.resourceRules as { resources?: string[] }[]).flatMap(
        (r) => r.resources ?? [],
      );
      assert.deepEqual(
        granted.filter((r) => !r.startsWith("selfsubject")),
        [],
        `the default account holds ${granted.join(", ")}`,
      );
    });

    it("has no pod that holds the deployer's token, and refuses one that asks for it", async () => {
      const pods = await adminApi.core.listNamespacedPod({ namespace: NS_ISO });
      const accounts = new Set(pods.items.map((p) => p.spec!.serviceAccountName ?? "default"));
      const deployer = (
        await adminApi.core.listNamespacedServiceAccount({ namespace: NS_ISO })
      ).items
        .map((sa) => sa.metadata!.name!)
        .filter((n) => n.startsWith("deployer-"));
      assert.equal(deployer.length, 1);
      assert.ok(!accounts.has(deployer[0]), "a pod runs as the deployer");
      for (const p of pods.items) {
        for (const v of p.spec!.volumes ?? []) {
          assert.ok(!v.secret, `pod ${p.metadata!.name} mounts Secret ${v.secret?.secretName}`);
        }
      }
      // A workload that asks to run as the deployer (or Tiller): refused for CI, on the
      // Deployment itself (server-side dry-run: nothing is created).
      const scoped = await clientsFor(isoScoped);
      for (const account of [deployer[0], "tiller"]) {
        const template = probePod(NS_ISO, "as-identity", { automountToken: true });
        (template.spec as Record<string, unknown>).serviceAccountName = account;
        const deployment = probeDeployment(template, 1);
        const status = await statusOf(scoped.objects.create(deployment, undefined, "All"));
        assert.ok(status === 403 || status === 422, `as ${account}: status ${status}`);
      }
      // Nor may a workload borrow the label that lets Tiller's pod reach the API server, on
      // create or on update of a Deployment it owns.
      const labelled = probePod(NS_ISO, "api-egress", {
        labels: { "scoped-cd.io/api-egress": "tiller" },
      });
      const sneaky = probeDeployment(labelled, 0);
      const refusal = await messageOf(scoped.objects.create(sneaky, undefined, "All"));
      assert.match(refusal, /scoped-cd guardrail identities\.apiEgressLabel/);
      const plain = {
        ...sneaky,
        spec: {
          ...sneaky.spec,
          template: { metadata: { labels: { app: "probe" } }, spec: labelled.spec },
        },
      };
      await scoped.objects.create(plain);
      const patched = await messageOf(
        scoped.objects.patch(
          {
            ...plain,
            spec: { template: { metadata: { labels: { "scoped-cd.io/api-egress": "tiller" } } } },
          } as never,
          undefined,
          undefined,
          undefined,
          undefined,
          "application/strategic-merge-patch+json" as never,
        ),
      );
      assert.match(patched, /scoped-cd guardrail identities\.apiEgressLabel/);
    });
  });

  describe("resource defaults on the node", () => {
    it("evicts a pod that declares nothing and writes past the default ephemeral-storage limit", async () => {
      // No resources of its own: the LimitRange gives the container its defaults.
      const filler = probePod(NS_ISO, "disk-filler", {
        command: ["sh", "-c", "dd if=/dev/zero of=/scratch/fill bs=1M count=1400; sleep 3600"],
      });
      const container = filler.spec.containers[0] as Record<string, unknown>;
      delete container.resources;
      container.volumeMounts = [{ name: "scratch", mountPath: "/scratch" }];
      (filler.spec as Record<string, unknown>).volumes = [{ name: "scratch", emptyDir: {} }];
      await adminApi.objects.create(filler);
      const pod = await adminApi.core.readNamespacedPod({ name: "disk-filler", namespace: NS_ISO });
      const limits = pod.spec!.containers[0].resources?.limits ?? {};
      assert.ok(limits["ephemeral-storage"], "the LimitRange gave no ephemeral-storage limit");
      const evicted = await waitForPod(adminApi, NS_ISO, "disk-filler", 120, (p) =>
        p.status?.reason === "Evicted" ? p : undefined,
      );
      assert.equal(evicted.status!.phase, "Failed");
      assert.match(evicted.status!.message ?? "", /ephemeral/i);
    });
  });

  it("runs on a real kubelet node with containerd, not a fake one", async () => {
    const { stdout } = await execFileAsync("kubectl", [
      "--kubeconfig",
      admin,
      "get",
      "node",
      node.name,
      "-o",
      "jsonpath={.status.nodeInfo.containerRuntimeVersion} {.status.nodeInfo.kubeletVersion}",
    ]);
    assert.match(stdout, /^containerd:\/\/\S+ v1\.\d+\.\d+$/);
  });
});

/** Poll a pod until `check` accepts it. */
async function waitForPod<T>(
  admin: Clients,
  namespace: string,
  name: string,
  seconds: number,
  check: (pod: Awaited<ReturnType<Clients["core"]["readNamespacedPod"]>>) => T | undefined,
): Promise<T> {
  return waitFor(`pod ${namespace}/${name}`, seconds, async () =>
    check(await admin.core.readNamespacedPod({ name, namespace })),
  );
}
