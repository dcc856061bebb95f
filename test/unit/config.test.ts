import * as assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../config";
import { accessModeConfig, allModeConfig, deliveryModeConfig } from "./fixtures";
import { runProgram } from "./harness";

type Config = Record<string, any>;

interface BadCase {
  /** What is wrong, as a sentence. */
  what: string;
  /** Config to start from. */
  base: () => Config;
  /** The change that makes it bad. */
  change: (c: Config) => void;
  /** The exact problem line expected (key path and message). */
  problem: string;
  /** Config keys to mark secret. */
  secretKeys?: string[];
}

const dev = (c: Config) => c.stages.dev;
const longName = "a".repeat(54);

const BAD: BadCase[] = [
  {
    what: "an unknown mode",
    base: allModeConfig,
    change: (c) => (c.mode = "both"),
    problem: 'scoped-cd:mode: must be one of "all", "access", "delivery"',
  },
  {
    what: "a missing cluster",
    base: allModeConfig,
    change: (c) => delete c.cluster,
    problem: "scoped-cd:cluster: is required",
  },
  {
    what: "a cluster name that is not a DNS-1123 label",
    base: allModeConfig,
    change: (c) => (c.cluster.name = "Prod_EU"),
    problem:
      "scoped-cd:cluster.name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
  },
  {
    what: "a plain-http API server",
    base: allModeConfig,
    change: (c) => (c.cluster.server = "http://api.prod:6443"),
    problem: "scoped-cd:cluster.server: must be an https:// URL",
  },
  {
    what: "an unknown top-level key",
    base: allModeConfig,
    change: (c) => (c.stagez = {}),
    problem: "scoped-cd:stagez: unknown key",
  },
  {
    what: "an unknown stage key",
    base: allModeConfig,
    change: (c) => (dev(c).replicas = 3),
    problem: "scoped-cd:stages.dev.replicas: unknown key",
  },
  {
    what: "a stage name with capitals",
    base: allModeConfig,
    change: (c) => {
      c.stages.Dev = c.stages.dev;
      delete c.stages.dev;
    },
    problem:
      "scoped-cd:stages.Dev: stage name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 30 characters",
  },
  {
    what: "the default namespace",
    base: allModeConfig,
    change: (c) => (dev(c).namespace = "default"),
    problem:
      "scoped-cd:stages.dev.namespace: namespace default is reserved; choose a namespace of the stage's own",
  },
  {
    what: "a kube- namespace",
    base: allModeConfig,
    change: (c) => (dev(c).namespace = "kube-system"),
    problem:
      "scoped-cd:stages.dev.namespace: namespace kube-system is reserved; choose a namespace of the stage's own",
  },
  {
    what: "the same namespace in two stages",
    base: allModeConfig,
    change: (c) => (c.stages.qa = { namespace: "shop-dev" }),
    problem: "scoped-cd:stages.qa.namespace: namespace shop-dev is already used by stage dev",
  },
  {
    what: "a namespace longer than 63 characters",
    base: allModeConfig,
    change: (c) => (dev(c).namespace = "n".repeat(64)),
    problem: "scoped-cd:stages.dev.namespace: must be at most 63 characters",
  },
  {
    what: "a release name over 53 characters",
    base: allModeConfig,
    change: (c) => (dev(c).releases[longName] = { chart: "./charts/storefront" }),
    problem: `scoped-cd:stages.dev.releases.${longName}: release name must be at most 53 characters (Helm's limit)`,
  },
  {
    what: "a release name with an underscore",
    base: allModeConfig,
    change: (c) => (dev(c).releases.store_front = { chart: "./charts/storefront" }),
    problem:
      "scoped-cd:stages.dev.releases.store_front: release name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
  },
  {
    what: "a boolean given as a string",
    base: allModeConfig,
    change: (c) => (dev(c).deletable = "no"),
    problem: "scoped-cd:stages.dev.deletable: must be a boolean",
  },
  {
    what: "values that are not a map",
    base: allModeConfig,
    change: (c) => (dev(c).releases.storefront.values = "replicaCount=3"),
    problem: "scoped-cd:stages.dev.releases.storefront.values: must be a map",
  },
  {
    what: "a quota value that is not a quantity",
    base: allModeConfig,
    change: (c) => (dev(c).guardrails = { quota: { "requests.cpu": "lots" } }),
    problem:
      'scoped-cd:stages.dev.guardrails.quota["requests.cpu"]: must be a Kubernetes quantity such as "500m", "2" or "4Gi"',
  },
  {
    what: "a quota key that is no resource name",
    base: allModeConfig,
    change: (c) => (dev(c).guardrails = { quota: { cpus: "2" } }),
    problem: "scoped-cd:stages.dev.guardrails.quota.cpus: is not a ResourceQuota resource name",
  },
  {
    what: "a quota that is a list",
    base: allModeConfig,
    change: (c) => (dev(c).guardrails = { quota: ["cpu=2"] }),
    problem: "scoped-cd:stages.dev.guardrails.quota: must be a map",
  },
  {
    what: "a privileged Pod Security level",
    base: allModeConfig,
    change: (c) => (dev(c).guardrails = { podSecurity: "privileged" }),
    problem: 'scoped-cd:stages.dev.guardrails.podSecurity: must be one of "restricted", "baseline"',
  },
  {
    what: "a delivery stack without an access source",
    base: deliveryModeConfig,
    change: (c) => delete c.accessStack,
    problem:
      "scoped-cd:mode: delivery mode needs the scoped kubeconfig: set scoped-cd:accessStack or the secret scoped-cd:kubeconfig",
  },
  {
    what: "a delivery stack with both access sources",
    base: deliveryModeConfig,
    change: (c) => (c.kubeconfig = "apiVersion: v1"),
    secretKeys: ["kubeconfig"],
    problem:
      "scoped-cd:kubeconfig: set either scoped-cd:accessStack or scoped-cd:kubeconfig, not both",
  },
  {
    what: "an access-layer key in a delivery stack",
    base: deliveryModeConfig,
    change: (c) => (c.stages.prod.tiller = { enabled: true }),
    problem:
      "scoped-cd:stages.prod.tiller: belongs to the access stack; a delivery stack only deploys releases",
  },
  {
    what: "releases in an access stack",
    base: accessModeConfig,
    change: (c) => (c.stages.prod.releases = { storefront: { chart: "./charts/storefront" } }),
    problem:
      "scoped-cd:stages.prod.releases: belongs to the delivery stack; an access stack deploys no releases",
  },
  {
    what: "an accessStack outside delivery mode",
    base: accessModeConfig,
    change: (c) => (c.accessStack = "prod-access"),
    problem: "scoped-cd:accessStack: is read only in delivery mode (mode is access)",
  },
  {
    what: "an extra rule granting pods/exec without acknowledgement",
    base: allModeConfig,
    change: (c) =>
      (dev(c).deployer.extraRules = [
        { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] },
      ]),
    problem:
      "scoped-cd:stages.dev.deployer.extraRules[0]: carries the escalation class exec-attach; list it under `acknowledge` to accept the risk",
  },
  {
    what: "an extra rule with a wildcard verb",
    base: allModeConfig,
    change: (c) =>
      (dev(c).deployer.extraRules = [
        {
          apiGroups: ["apps"],
          resources: ["deployments"],
          verbs: ["*"],
          acknowledge: ["pod-creation"],
        },
      ]),
    problem:
      "scoped-cd:stages.dev.deployer.extraRules[0]: carries wildcard, which a deployer Role may never hold",
  },
  {
    what: "an extra rule minting tokens through a subresource wildcard",
    base: allModeConfig,
    change: (c) =>
      (dev(c).deployer.extraRules = [
        { apiGroups: [""], resources: ["serviceaccounts/*"], verbs: ["create"] },
      ]),
    problem:
      "scoped-cd:stages.dev.deployer.extraRules[0]: carries the escalation class token-minting; list it under `acknowledge` to accept the risk",
  },
  {
    what: "an extra rule on a cluster-scoped resource",
    base: allModeConfig,
    change: (c) =>
      (dev(c).deployer.extraRules = [{ apiGroups: [""], resources: ["nodes"], verbs: ["get"] }]),
    problem:
      "scoped-cd:stages.dev.deployer.extraRules[0].resources: nodes is cluster-scoped: a namespaced Role cannot grant it",
  },
  {
    what: "an acknowledgement of a class the rule does not carry",
    base: allModeConfig,
    change: (c) =>
      (dev(c).deployer.extraRules = [
        {
          apiGroups: [""],
          resources: ["configmaps"],
          verbs: ["get"],
          acknowledge: ["secrets-read"],
        },
      ]),
    problem:
      "scoped-cd:stages.dev.deployer.extraRules[0].acknowledge: acknowledges secrets-read, which the rule does not carry",
  },
  {
    what: "a Tiller image tagged latest",
    base: allModeConfig,
    change: (c) => (dev(c).tiller.image = "ghcr.io/helm/tiller:latest"),
    problem:
      "scoped-cd:stages.dev.tiller.image: must be a pinned image reference (a tag other than latest, or a digest)",
  },
  {
    what: "a repository chart without a version",
    base: allModeConfig,
    change: (c) => (dev(c).releases.cache = { chart: "redis", repo: "https://charts.example.com" }),
    problem:
      "scoped-cd:stages.dev.releases.cache.version: is required for a repository chart (pin what you deploy)",
  },
  {
    what: "a pinned version in a promoted stage",
    base: deliveryModeConfig,
    change: (c) => {
      c.stages.prod.promoteFrom = "preprod";
      c.stages.prod.releases.storefront.version = "1.4.2";
    },
    problem:
      "scoped-cd:stages.prod.releases.storefront.version: is pinned, but the stage promotes from preprod; set one of them",
  },
  {
    what: "an empty rotation",
    base: allModeConfig,
    change: (c) => (dev(c).deployer.rotation = ""),
    problem:
      "scoped-cd:stages.dev.deployer.rotation: must be 1-63 letters, digits, '.', '_' or '-'",
  },
];

describe("config validation", () => {
  for (const bad of BAD) {
    it(`rejects ${bad.what} with its key path, registering nothing`, async () => {
      const config = bad.base();
      bad.change(config);
      const { error, registrations } = await runProgram(config, { secretKeys: bad.secretKeys });
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      assert.ok(
        error.problems.includes(bad.problem),
        `expected problem:\n  ${bad.problem}\ngot:\n  ${error.problems.join("\n  ")}`,
      );
      assert.deepEqual(registrations, [], "no resource may be registered");
    });
  }

  it("covers at least fifteen distinct bad configurations", () => {
    assert.ok(new Set(BAD.map((b) => b.problem)).size >= 15);
  });

  it("reports every problem of a stack at once", () => {
    const config = allModeConfig();
    config.mode = "both";
    dev(config).namespace = "kube-public";
    dev(config).releases.store_front = { chart: "./charts/storefront" };
    config.stages.qa = { deletable: "yes" };
    const { problems } = parseConfig(config);
    assert.deepEqual(problems.sort(), [
      'scoped-cd:mode: must be one of "all", "access", "delivery"',
      "scoped-cd:stages.dev.namespace: namespace kube-public is reserved; choose a namespace of the stage's own",
      "scoped-cd:stages.dev.releases.store_front: release name must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
      "scoped-cd:stages.qa.deletable: must be a boolean",
    ]);
  });

  it("names the secret kubeconfig key without revealing its value", () => {
    const config = deliveryModeConfig();
    config.kubeconfig = "[secret]";
    const { problems } = parseConfig(config);
    assert.ok(problems.every((p) => !p.includes("apiVersion")));
    assert.ok(problems[0].startsWith("scoped-cd:kubeconfig: set either"));
  });

  it("applies the documented defaults", () => {
    const { config } = parseConfig({ cluster: { name: "local" }, stages: { web: {} } });
    assert.ok(config);
    assert.equal(config.mode, "all");
    const [web] = config.stages;
    assert.equal(web.namespace, "web");
    assert.equal(web.deletable, false);
    assert.deepEqual(web.deployer, {
      rotation: "initial",
      allowRbac: false,
      extraRules: [],
      credential: {
        kind: "token",
        lifetimeSeconds: 86400,
        renewAfter: 0.5,
        expiryWarningSeconds: 3600,
      },
    });
    assert.equal(web.guardrails.podSecurity, "restricted");
    assert.equal(web.guardrails.isolateNetwork, true);
    assert.equal(web.guardrails.quota.pods, "20");
    assert.equal(web.tiller.enabled, false);
    assert.deepEqual(web.releases, {});
  });

  it("accepts an escalation-prone extra rule that acknowledges its class", () => {
    const config = allModeConfig();
    dev(config).deployer.extraRules = [
      {
        apiGroups: [""],
        resources: ["pods/exec"],
        verbs: ["create"],
        acknowledge: ["exec-attach"],
      },
    ];
    assert.deepEqual(parseConfig(config).problems, []);
  });
});
