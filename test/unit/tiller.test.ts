// Tiller (Helm v2): its configuration, what each mode declares, the containment expectations, and
// `scoped-cd helm2`'s argument handling and the kubeconfig it gives Tiller. (Its process handling
// runs against the real binaries in test/e2e/tiller.test.ts.)
import * as assert from "node:assert/strict";
import type { StageSummary } from "../../components/outputs";
import {
  assertLocalTiller,
  Helm2Args,
  helm2Args,
  tillerInvocation,
} from "../../cli/commands/helm2";
import { CliError } from "../../cli/errors";
import { Io } from "../../cli/io";
import { inClusterTiller } from "../../cli/lib/verify/tiller";
import { kubeconfigForTiller } from "../../cli/lib/tillerKubeconfig";
import { run, Runners } from "../../cli/program";
import { ConfigError } from "../../config";
import { apiServerEgressRule, TILLER_API_EGRESS_LABEL } from "../../components/access/tiller";
import { buildContainmentMatrix } from "../../policy/containment";
import { deployerRules, tillerRules } from "../../policy/deployerProfile";
import { ruleCovers } from "../../policy/rbac";
import { allModeConfig } from "./fixtures";
import { runProgram } from "./harness";

const T = {
  sa: "kubernetes:core/v1:ServiceAccount",
  role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
  binding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  deployment: "kubernetes:apps/v1:Deployment",
};

async function problemsOf(change: (c: Record<string, any>) => void): Promise<readonly string[]> {
  const config = allModeConfig();
  change(config);
  const { error, registrations } = await runProgram(config);
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
  assert.deepEqual(registrations, []);
  return error.problems;
}

describe("tiller configuration", () => {
  it("rejects an unknown mode with its key path", async () => {
    assert.deepEqual(
      await problemsOf((c) => (c.stages.dev.tiller = { enabled: true, mode: "pod" })),
      ['scoped-cd:stages.dev.tiller.mode: must be one of "local", "cluster"'],
    );
  });

  it("rejects an image for a local Tiller (it would be silently ignored)", async () => {
    assert.deepEqual(
      await problemsOf(
        (c) =>
          (c.stages.dev.tiller = {
            enabled: true,
            mode: "local",
            image: "ghcr.io/helm/tiller:v2.16.0",
          }),
      ),
      [
        "scoped-cd:stages.dev.tiller.image: applies only to mode cluster; a local Tiller is the tiller binary on the CI machine's PATH",
      ],
    );
  });
});

describe("tiller modes, as declared", () => {
  async function declared(tiller: Record<string, unknown>) {
    const config = allModeConfig();
    config.stages.dev.tiller = tiller;
    const result = await runProgram(config);
    if (result.error) throw result.error;
    const named = (type: string) =>
      result
        .byType(type)
        .map((r) => r.name)
        .filter((n) => n.includes("tiller"));
    const deployer = result.one(T.role, "dev-deployer-role").inputs.rules as any[];
    const grants = (group: string, resource: string, verb: string) =>
      deployer.some((r) => ruleCovers(r, group, resource, verb));
    return { result, named, grants };
  }

  it("local: no Tiller identity at all, no port-forward, and the deployer may read its namespace", async () => {
    const { result, named, grants } = await declared({ enabled: true, mode: "local" });
    for (const type of [T.sa, T.role, T.binding, T.deployment]) assert.deepEqual(named(type), []);
    assert.equal(
      result.registrations.filter((r) => r.type === "scoped-cd:access:Tiller").length,
      0,
    );
    assert.equal(grants("", "pods/portforward", "create"), false);
    assert.equal(grants("", "namespaces", "get"), true);
    assert.equal(grants("", "namespaces", "patch"), false);
  });

  it("cluster (the default mode): ServiceAccount, Role, RoleBinding and Deployment, reached by port-forward", async () => {
    const { named, grants } = await declared({ enabled: true });
    assert.deepEqual(named(T.sa), ["dev-tiller-sa"]);
    assert.deepEqual(named(T.role), ["dev-tiller-role"]);
    assert.deepEqual(named(T.binding), ["dev-tiller-binding"]);
    assert.deepEqual(named(T.deployment), ["dev-tiller-deploy"]);
    assert.equal(grants("", "pods/portforward", "create"), true);
    assert.equal(grants("", "namespaces", "get"), true);
  });

  it("cluster: Tiller's pod alone may reach the API server's endpoints past the stage's egress policy", async () => {
    const { result } = await declared({ enabled: true });
    const policy = result.one(
      "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      "dev-tiller-api-egress",
    );
    const spec = policy.inputs.spec as any;
    assert.deepEqual(spec.podSelector, { matchLabels: TILLER_API_EGRESS_LABEL });
    assert.deepEqual(spec.policyTypes, ["Egress"]);
    // The harness's EndpointSlice of default/kubernetes: 10.0.0.1, port 6443.
    assert.deepEqual(spec.egress, [
      { to: [{ ipBlock: { cidr: "10.0.0.1/32" } }], ports: [{ protocol: "TCP", port: 6443 }] },
    ]);
    const template = result.one(T.deployment, "dev-tiller-deploy").inputs.spec as any;
    assert.equal(template.template.metadata.labels["scoped-cd.io/api-egress"], "tiller");
  });

  it("cluster, egress not isolated: no allowance of its own is needed", async () => {
    const config = allModeConfig();
    config.stages.dev.tiller = { enabled: true };
    config.stages.dev.guardrails = { egress: { isolate: false } };
    const result = await runProgram(config);
    if (result.error) throw result.error;
    assert.deepEqual(
      result
        .byType("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        .map((r) => r.name)
        .filter((n) => n.includes("tiller")),
      [],
    );
  });

  it("builds the API server rule from every endpoint address and port, and fails without one", () => {
    assert.deepEqual(
      apiServerEgressRule(
        [{ addresses: ["10.0.0.2", "10.0.0.1"] }, { addresses: ["10.0.0.1", "fd00::1"] }],
        [{ port: 443 }],
      ),
      {
        to: [
          { ipBlock: { cidr: "10.0.0.1/32" } },
          { ipBlock: { cidr: "10.0.0.2/32" } },
          { ipBlock: { cidr: "fd00::1/128" } },
        ],
        ports: [{ protocol: "TCP", port: 443 }],
      },
    );
    assert.throws(
      () => apiServerEgressRule([], [{ port: 443 }]),
      /the kubernetes Service in namespace default has no endpoints/,
    );
  });

  it("off: the deployer may neither port-forward nor read its namespace", async () => {
    const { grants } = await declared({ enabled: false });
    assert.equal(grants("", "pods/portforward", "create"), false);
    assert.equal(grants("", "namespaces", "get"), false);
  });

  it("Tiller's Role is within the deployer's in cluster mode, with and without allowRbac", () => {
    for (const allowRbac of [false, true]) {
      const deployer = deployerRules({ allowRbac, tiller: true });
      for (const rule of tillerRules({ allowRbac }))
        for (const g of rule.apiGroups)
          for (const r of rule.resources)
            for (const v of rule.verbs)
              assert.ok(
                deployer.some((d) => ruleCovers(d, g, r, v)),
                `${v} ${g}/${r}`,
              );
    }
  });
});

describe("containment matrix and verify for Tiller", () => {
  const summary = (tiller: StageSummary["tiller"]): StageSummary => ({
    namespace: "shop-test",
    serviceAccount: "deployer-abc123",
    rotation: "r1",
    tiller,
    releases: {},
  });

  it("expects port-forward only for an in-cluster Tiller (outputs without a mode mean cluster)", () => {
    assert.equal(inClusterTiller(summary({ enabled: true, namespace: "n", mode: "local" })), false);
    assert.equal(
      inClusterTiller(summary({ enabled: true, namespace: "n", mode: "cluster" })),
      true,
    );
    assert.equal(inClusterTiller(summary({ enabled: true, namespace: "n" })), true);
    assert.equal(inClusterTiller(summary({ enabled: false, namespace: null })), false);
    assert.equal(inClusterTiller(summary({ enabled: null, namespace: null })), undefined);
  });

  it("allows reading the own Namespace exactly when Tiller is enabled, never patching it", () => {
    const expectation = (tillerEnabled: boolean | undefined, verb: string) =>
      buildContainmentMatrix({
        namespace: "shop-test",
        otherNamespace: "default",
        tiller: false,
        tillerEnabled,
      }).find((c) => c.description === `${verb} namespaces shop-test in shop-test`)?.expect;
    assert.equal(expectation(true, "get"), "allowed");
    assert.equal(expectation(false, "get"), "forbidden");
    assert.equal(expectation(undefined, "get"), undefined);
    for (const enabled of [true, false, undefined])
      assert.equal(expectation(enabled, "patch"), "forbidden");
  });
});

describe("scoped-cd helm2 arguments", () => {
  const opts = {
    stack: "test-access",
    workDir: ".",
    helmBinary: "helm2",
    tillerBinary: "tiller",
    startTimeout: "30",
  };
  const refused = (helmArgs: string[], message: string, extra: Record<string, unknown> = {}) =>
    assert.throws(
      () => helm2Args({ ...opts, ...extra }, helmArgs),
      (err: unknown) => err instanceof CliError && err.message === message,
    );

  it("takes helm's arguments as they are", () => {
    const args = helm2Args({ ...opts, stage: "test" }, ["upgrade", "--install", "web", "./c"]);
    assert.deepEqual(args.helmArgs, ["upgrade", "--install", "web", "./c"]);
    assert.equal(args.stage, "test");
    assert.equal(args.startTimeoutSeconds, 30);
  });

  it("refuses the flags it chooses itself: Tiller's address, cluster, credential, namespace", () => {
    for (const flag of ["--host", "--kube-context", "--kubeconfig", "--tiller-namespace"]) {
      refused(
        ["ls", `${flag}=x`],
        `${flag} is chosen by scoped-cd helm2 (the local Tiller, the stage's kubeconfig); leave it out`,
      );
    }
  });

  it("refuses to install or remove an in-cluster Tiller", () => {
    const message = (c: string) =>
      `helm ${c} installs or removes an in-cluster Tiller; with a local Tiller only \`init --client-only\` applies`;
    refused(["init"], message("init"));
    refused(["reset", "--force"], message("reset"));
    assert.doesNotThrow(() => helm2Args(opts, ["init", "--client-only"]));
  });

  it("refuses a missing stack, a missing command and a bad timeout", () => {
    refused(["ls"], "--stack is required", { stack: undefined });
    refused([], "give the helm command after --");
    refused(["ls"], "--start-timeout must be a whole number of seconds (1-600), got 0", {
      startTimeout: "0",
    });
  });

  it("refuses a stage whose Tiller is off or in the cluster, and accepts local or unknown", () => {
    const s = (tiller: StageSummary["tiller"]) =>
      ({
        namespace: "n",
        serviceAccount: null,
        rotation: null,
        tiller,
        releases: {},
      }) as StageSummary;
    assert.throws(
      () => assertLocalTiller("test", s({ enabled: false, namespace: null })),
      /stage test does not enable Tiller/,
    );
    assert.throws(
      () => assertLocalTiller("test", s({ enabled: true, namespace: "n", mode: "cluster" })),
      /stage test runs Tiller in the cluster \(tiller.mode cluster\)/,
    );
    assertLocalTiller("test", s({ enabled: true, namespace: "n", mode: "local" }));
    assertLocalTiller("test", s({ enabled: null, namespace: null }));
  });

  it("starts tiller with the Deployment's flags on loopback, the credential only by file path", () => {
    const { args, env } = tillerInvocation(
      "shop-test",
      { grpc: 4001, probe: 4002 },
      7,
      "/tmp/x/kc",
    );
    assert.deepEqual(args, [
      "--storage=secret",
      "--listen=127.0.0.1:4001",
      "--probe-listen=127.0.0.1:4002",
      "--history-max=7",
    ]);
    assert.deepEqual(env, {
      KUBECONFIG: "/tmp/x/kc",
      TILLER_NAMESPACE: "shop-test",
      HOME: "/tmp/x",
    });
  });

  it("is wired into the CLI: operands after -- reach the runner untouched", async () => {
    let received: Helm2Args | undefined;
    const io: Io = { stdout: () => undefined, stderr: () => undefined };
    const code = await run(
      ["helm2", "--stack", "test", "--", "install", "./c", "--name", "web", "--set", "a=b"],
      io,
      { helm2: async (a: Helm2Args) => ((received = a), 1 as never) } as Partial<Runners>,
    );
    assert.equal(code, 1, "helm's exit code passes through");
    assert.deepEqual(received?.helmArgs, ["install", "./c", "--name", "web", "--set", "a=b"]);
  });
});

describe("the kubeconfig a Helm v2 Tiller gets", () => {
  const kubeconfig = (user: Record<string, unknown>) =>
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: c",
      "contexts: [{name: c, context: {cluster: k, user: u, namespace: shop-test}}]",
      "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:6443'}}]",
      `users: [{name: u, user: ${JSON.stringify(user)}}]`,
    ].join("\n");

  it("passes token and token-file users through unchanged", () => {
    for (const user of [{ token: "t" }, { tokenFile: "/run/token" }]) {
      const text = kubeconfig(user);
      assert.equal(
        kubeconfigForTiller(text, () => assert.fail("ran a plugin")),
        text,
      );
    }
  });

  it("passes exec plugins of an API client-go 1.16 knows through unchanged", () => {
    const text = kubeconfig({
      exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "x" },
    });
    assert.equal(
      kubeconfigForTiller(text, () => assert.fail("ran a plugin")),
      text,
    );
  });

  it("runs a v1 exec plugin once and hands Tiller its token (the OIDC kubeconfig)", () => {
    const text = kubeconfig({
      exec: {
        apiVersion: "client.authentication.k8s.io/v1",
        command: "sh",
        args: ["-c", "x"],
        env: [{ name: "A", value: "1" }],
      },
    });
    let ran: unknown;
    const out = kubeconfigForTiller(text, (spec) => {
      ran = spec;
      return '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"id-token"}}';
    });
    assert.deepEqual((ran as { command: string }).command, "sh");
    assert.match(out, /token: id-token/);
    assert.doesNotMatch(out, /exec/);
    assert.match(out, /namespace: shop-test/);
  });

  it("fails without quoting the plugin's output when it returns no token", () => {
    const text = kubeconfig({
      exec: { apiVersion: "client.authentication.k8s.io/v1", command: "x" },
    });
    assert.throws(
      () => kubeconfigForTiller(text, () => '{"status":{}}'),
      /the kubeconfig's exec credential plugin returned no token/,
    );
  });
});
