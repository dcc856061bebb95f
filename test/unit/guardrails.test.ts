import * as assert from "node:assert/strict";
import { parseConfig } from "../../config";
import { CI_REQUESTER, hostPatternRegex, isInjectionAnnotation } from "../../policy/admission";
import { admissionPolicies } from "../../policy/admissionPolicies";
import { classesOf } from "../../policy/admissionPolicies/merged";
import { cidrContains, egressRules } from "../../policy/egress";
import { DEFAULT_QUOTA, stageQuota } from "../../policy/quota";
import { surplus } from "../../policy/surplus";
import { deployerRules } from "../../policy/deployerProfile";
import { rulesBeyondProfile, SELF_REVIEW_RULES } from "../../policy/rulesReview";
import { allModeConfig } from "./fixtures";
import { runProgram, RunResult } from "./harness";

const T = {
  vap: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy",
  vapBinding: "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding",
  quota: "kubernetes:core/v1:ResourceQuota",
  netpol: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
};

type Config = Record<string, any>;
const withGuardrails = (guardrails: Config) => {
  const c = allModeConfig();
  c.stages.dev.guardrails = guardrails;
  return c;
};
async function run(config: Config): Promise<RunResult> {
  const result = await runProgram(config);
  if (result.error) throw result.error;
  return result;
}
const problemsOf = (guardrails: Config) => parseConfig(withGuardrails(guardrails)).problems;

describe("guardrails configuration", () => {
  const BAD: [string, Config, string][] = [
    [
      "an unknown Service type",
      { services: { allowTypes: ["HostPort"] } },
      'scoped-cd:stages.dev.guardrails.services.allowTypes[0]: must be one of "NodePort", "LoadBalancer", "ExternalName"',
    ],
    [
      "a host pattern with a wildcard in the middle",
      { ingress: { allowHosts: ["app.*.example.com"] } },
      "scoped-cd:stages.dev.guardrails.ingress.allowHosts[0]: must be a lowercase DNS name, optionally starting with '*.' followed by at least two labels (e.g. *.test.example.com)",
    ],
    [
      "a wildcard over a top-level domain",
      { ingress: { allowHosts: ["*.com"] } },
      "scoped-cd:stages.dev.guardrails.ingress.allowHosts[0]: must be a lowercase DNS name, optionally starting with '*.' followed by at least two labels (e.g. *.test.example.com)",
    ],
    [
      "an annotation prefix that admits the snippet family",
      { ingress: { allowAnnotations: ["nginx.ingress.kubernetes.io/*"] } },
      "scoped-cd:stages.dev.guardrails.ingress.allowAnnotations[0]: admits a configuration-injection annotation family (snippets, server-alias, auth-url, …); list safe annotations one by one",
    ],
    [
      "a snippet annotation",
      { ingress: { allowAnnotations: ["haproxy.org/backend-config-snippet"] } },
      "scoped-cd:stages.dev.guardrails.ingress.allowAnnotations[0]: admits a configuration-injection annotation family (snippets, server-alias, auth-url, …); list safe annotations one by one",
    ],
    [
      "a system priority class",
      { workloads: { allowPriorityClasses: ["system-node-critical"] } },
      "scoped-cd:stages.dev.guardrails.workloads.allowPriorityClasses[0]: system-* priority classes are never allowed",
    ],
    [
      "the metadata address in the egress allow-list",
      { egress: { allow: [{ cidr: "169.254.169.254/32" }] } },
      "scoped-cd:stages.dev.guardrails.egress.allow[0].cidr: is the cloud metadata address (169.254.169.254/32, fd00:ec2::254/128), which stage pods never reach",
    ],
    [
      "the IPv6 metadata address in the egress allow-list",
      { egress: { allow: [{ cidr: "fd00:ec2::254/128" }] } },
      "scoped-cd:stages.dev.guardrails.egress.allow[0].cidr: is the cloud metadata address (169.254.169.254/32, fd00:ec2::254/128), which stage pods never reach",
    ],
    [
      "an egress CIDR with host bits",
      { egress: { allow: [{ cidr: "10.1.2.3/8" }] } },
      "scoped-cd:stages.dev.guardrails.egress.allow[0].cidr: has host bits set (write the network address)",
    ],
    [
      "an egress entry that is no CIDR",
      { egress: { allow: [{ cidr: "example.com" }] } },
      "scoped-cd:stages.dev.guardrails.egress.allow[0].cidr: must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32",
    ],
    [
      "an unknown guardrail key",
      { ingress: { allowHost: ["a.example.com"] } },
      "scoped-cd:stages.dev.guardrails.ingress.allowHost: unknown key",
    ],
  ];
  for (const [what, guardrails, problem] of BAD) {
    it(`refuses ${what}`, () => assert.deepEqual(problemsOf(guardrails), [problem]));
  }

  it("merges quota overrides per key over the defaults", () => {
    const { config } = parseConfig(withGuardrails({ quota: { configmaps: "5", pods: 40 } }));
    assert.ok(config);
    assert.deepEqual(config.stages[0].guardrails.quota, {
      ...DEFAULT_QUOTA,
      configmaps: "5",
      pods: "40",
    });
  });
});

/** One class of a declared merged policy. */
function classOf(policy: { inputs: any }, name: string) {
  const found = classesOf(policy.inputs.spec).find((c) => c.class === name);
  assert.ok(found, `class ${name} in ${policy.inputs.metadata.name}`);
  return found;
}

describe("the admission guardrails", () => {
  let result: RunResult;
  before(async () => {
    result = await run(
      withGuardrails({
        services: { allowTypes: ["NodePort"] },
        ingress: { allowHosts: ["*.test.example.com"], allowClasses: ["nginx"] },
      }),
    );
  });

  // The stage's one policy, split back into its classes (policy/admissionPolicies/merged.ts).
  const cls = (name: string) => classOf(result.one(T.vap, "dev-ns-admission-guardrails"), name);

  it("declares one policy and one Deny binding selecting the stage namespace only", () => {
    const policies = result.byType(T.vap);
    const bindings = result.byType(T.vapBinding);
    assert.deepEqual(
      policies.map((p) => p.inputs.metadata.name),
      ["scoped-cd-shop-dev-guardrails"],
    );
    const selector = {
      matchExpressions: [
        { key: "kubernetes.io/metadata.name", operator: "In", values: ["shop-dev"] },
      ],
    };
    for (const p of policies) {
      assert.equal(p.inputs.spec.failurePolicy, "Fail");
      assert.equal(p.inputs.spec.matchConstraints.matchPolicy, "Equivalent");
      assert.deepEqual(p.inputs.spec.matchConstraints.namespaceSelector, selector);
      assert.equal(p.inputs.metadata.annotations["pulumi.com/patchForce"], "true");
    }
    assert.equal(bindings.length, 1);
    for (const b of bindings) {
      assert.deepEqual(b.inputs.spec.validationActions, ["Deny"]);
      assert.deepEqual(b.inputs.spec.matchResources.namespaceSelector, selector);
      assert.equal(b.inputs.spec.policyName, b.inputs.metadata.name);
    }
    // Every class's guard, in the snapshot's order.
    assert.deepEqual(
      policies[0].inputs.spec.variables
        .map((v: any) => v.name)
        .filter((n: string) => n.endsWith("_applies")),
      [
        "services_applies",
        "ingress_applies",
        "workloads_applies",
        "disruption_applies",
        "rbac_applies",
        "identities_applies",
        "volumes_applies",
        "access_applies",
        "gateway_applies",
      ],
    );
  });

  it("inlines the stage's allowed Service types and names the key that relaxes them", () => {
    const [externalIPs, type] = cls("services").validations;
    assert.match(
      externalIPs.message!,
      /^scoped-cd guardrail services.externalIPs: .*no setting relaxes it$/,
    );
    assert.equal(
      type.expression,
      '!has(object.spec.type) || object.spec.type in ["ClusterIP", "NodePort"]',
    );
    assert.match(
      type.messageExpression!,
      /scoped-cd:stages\.dev\.guardrails\.services\.allowTypes/,
    );
    assert.equal(
      cls("services").guard,
      '(request.resource.group == "" && request.resource.resource == "services" && (has(request.subResource) ? request.subResource : "") == "" && (request.operation == "CREATE" || request.operation == "UPDATE"))',
    );
  });

  it("checks every pod-template kind, CronJobs at their job template", () => {
    const wl = cls("workloads");
    for (const r of [
      "cronjobs",
      "daemonsets",
      "deployments",
      "jobs",
      "pods",
      "replicasets",
      "replicationcontrollers",
      "statefulsets",
    ])
      assert.match(wl.guard, new RegExp(`request.resource.resource == "${r}"`), r);
    assert.match(wl.variables[0].expression, /jobTemplate\.spec\.template\.spec/);
  });

  it("applies the identity rules to the stage's ServiceAccounts and OIDC CI users only", () => {
    const id = cls("identities");
    assert.match(id.guard, /startsWith\('oidc:'\)/);
    for (const [r, sub] of [
      ["secrets", ""],
      ["serviceaccounts", "token"],
      ["pods", "binding"],
      ["services", "status"],
    ])
      assert.ok(
        id.guard.includes(
          `request.resource.resource == "${r}" && (has(request.subResource) ? request.subResource : "") == "${sub}"`,
        ),
        `${r}/${sub}`,
      );
  });

  it("checks RoleBindings of CI identities only, so the access layer may bind the OIDC group", () => {
    assert.ok(cls("rbac").guard.endsWith(` && (${CI_REQUESTER})`), cls("rbac").guard);
  });

  it("keeps the namespace's cluster CA and foreign volumes out of the CI identity's reach", () => {
    const ca = cls("identities").validations.find((v) => /identities\.clusterCA/.test(v.message!));
    assert.equal(
      ca?.expression,
      'request.resource.resource != "configmaps" || request.name != "kube-root-ca.crt"',
    );
    const volumes = cls("volumes");
    assert.match(volumes.guard, /request.resource.resource == "persistentvolumeclaims"/);
    assert.match(volumes.guard, /startsWith\('oidc:'\)/);
    assert.match(volumes.validations[0].expression, /oldObject\.spec\.volumeName/);
  });

  it("bounds object counts and closes node ports and load balancers unless allowed", () => {
    const hard = result.one(T.quota, "dev-ns-quota").inputs.spec.hard;
    assert.equal(hard.configmaps, "50");
    assert.equal(hard["count/jobs.batch"], "50");
    assert.equal(hard["services.loadbalancers"], "0");
    assert.equal(hard["services.nodeports"], undefined, "NodePort is allowed in this stage");
  });

  it("isolates egress to the namespace and cluster DNS by default", () => {
    const egress = result.one(T.netpol, "dev-ns-egress").inputs.spec;
    assert.deepEqual(egress.policyTypes, ["Egress"]);
    assert.deepEqual(egress.egress, egressRules([]));
    assert.equal(egress.egress.length, 2);
  });
});

describe("guardrail building blocks", () => {
  it("turns a host pattern into an anchored, backslash-free regular expression", () => {
    const re = new RegExp(hostPatternRegex("*.test.example.com"));
    assert.equal(hostPatternRegex("*.test.example.com").includes("\\"), false);
    assert.ok(re.test("shop.test.example.com"));
    for (const bad of [
      "test.example.com",
      "a.b.test.example.com",
      "*.test.example.com",
      "shop.test.example.com.evil.io",
      "shopxtest.example.com",
    ])
      assert.equal(re.test(bad), false, bad);
    assert.ok(new RegExp(hostPatternRegex("app.example.com")).test("app.example.com"));
  });

  it("refuses whole annotation families, not single keys", () => {
    for (const k of [
      "nginx.ingress.kubernetes.io/configuration-snippet",
      "nginx.ingress.kubernetes.io/server-snippet",
      "nginx.org/location-snippets",
      "haproxy.org/backend-config-snippet",
      "nginx.ingress.kubernetes.io/server-alias",
      "traefik.ingress.kubernetes.io/router.middlewares",
    ])
      assert.ok(isInjectionAnnotation(k), k);
    assert.equal(isInjectionAnnotation("nginx.ingress.kubernetes.io/ssl-redirect"), false);
  });

  it("excepts the metadata addresses from any CIDR that contains them", () => {
    const rules = egressRules([{ cidr: "0.0.0.0/0" }, { cidr: "::/0" }, { cidr: "10.0.0.0/8" }]);
    assert.deepEqual(rules[2].to, [
      { ipBlock: { cidr: "0.0.0.0/0", except: ["169.254.169.254/32"] } },
    ]);
    assert.deepEqual(rules[3].to, [{ ipBlock: { cidr: "::/0", except: ["fd00:ec2::254/128"] } }]);
    assert.deepEqual(rules[4].to, [{ ipBlock: { cidr: "10.0.0.0/8" } }]);
    assert.ok(cidrContains("169.254.0.0/16", "169.254.169.254/32"));
    assert.ok(!cidrContains("10.0.0.0/8", "169.254.169.254/32"));
  });

  it("adds zero node ports and load balancers unless the stage set or allowed them", () => {
    assert.deepEqual(stageQuota({ pods: "1" }, []), {
      pods: "1",
      "services.nodeports": "0",
      "services.loadbalancers": "0",
    });
    assert.deepEqual(stageQuota({ pods: "1" }, ["LoadBalancer"]), { pods: "1" });
    assert.deepEqual(stageQuota({ "services.nodeports": "3" }, []), {
      "services.nodeports": "3",
      "services.loadbalancers": "0",
    });
  });

  it("refuses every minAvailable by default and only 100% when the stage allows it", () => {
    const base = {
      stage: "s",
      namespace: "n",
      services: { allowTypes: [] },
      ingress: { allowHosts: [], allowClasses: [], allowAnnotations: [] },
      workloads: { allowPriorityClasses: [] },
      gateway: { allowParents: [], allowHosts: [] },
    };
    const pdb = (allowMinAvailable: boolean) =>
      admissionPolicies({ ...base, disruptionBudgets: { allowMinAvailable } }).find(
        (p) => p.class === "disruption",
      )!.validations[1].expression;
    assert.equal(pdb(false), "!has(object.spec.minAvailable)");
    assert.match(pdb(true), /100%/);
  });
});

describe("surplus: what a live object carries beyond its declaration", () => {
  const rules = [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get"] }];

  it("finds a rule appended to a Role", () => {
    const live = { rules: [...rules, { apiGroups: ["*"], resources: ["*"], verbs: ["*"] }] };
    assert.deepEqual(surplus({ rules }, live), ["$.rules[1:2]"]);
  });

  it("finds an exclusion or selector added where none is declared", () => {
    const declared = { spec: { policyName: "p", matchResources: { namespaceSelector: {} } } };
    const live = {
      spec: {
        policyName: "p",
        matchResources: {
          namespaceSelector: {},
          objectSelector: { matchLabels: { skip: "yes" } },
          excludeResourceRules: [{ resources: ["services"] }],
          matchPolicy: "Equivalent",
        },
      },
    };
    assert.deepEqual(surplus(declared, live).sort(), [
      "$.spec.matchResources.excludeResourceRules",
      "$.spec.matchResources.objectSelector",
    ]);
  });

  it("ignores server defaults: scalars and empty selectors", () => {
    const declared = { spec: { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] } };
    const live = {
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }] }],
      },
    };
    // policyTypes is declared by the component; here it is the server's: a non-empty list.
    assert.deepEqual(surplus({ spec: { ...declared.spec, policyTypes: ["Ingress"] } }, live), []);
    assert.deepEqual(surplus({ rules }, { rules: [{ ...rules[0], resourceNames: [] }] }), []);
  });
});

describe("effective rules compared with the profile", () => {
  it("finds an appended wildcard rule and nothing in the profile itself", () => {
    const profile = deployerRules({ allowRbac: false, tiller: false });
    assert.deepEqual(rulesBeyondProfile([...profile, ...SELF_REVIEW_RULES]), []);
    const wildcard = { apiGroups: ["*"], resources: ["*"], verbs: ["*"] };
    const [found] = rulesBeyondProfile([...profile, wildcard]);
    assert.deepEqual(found.rule, wildcard);
    assert.ok(found.classes.includes("wildcard"));
  });

  it("finds a daemonsets grant, which the containment matrix may not ask about", () => {
    const ds = { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["create"] };
    assert.deepEqual(rulesBeyondProfile([ds])[0].classes, ["pod-creation"]);
  });
});
