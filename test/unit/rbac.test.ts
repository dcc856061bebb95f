import * as assert from "node:assert/strict";
import {
  BASE_PROFILE,
  DOCUMENTED_CLASSES,
  deployerRules,
  tillerRules,
} from "../../policy/deployerProfile";
import { classesOf, escalationClasses, normalizeRules, ruleCovers } from "../../policy/rbac";

describe("RBAC rule analysis", () => {
  it("matches resources as the API server does", () => {
    const rule = { apiGroups: [""], resources: ["*/exec"], verbs: ["create"] };
    assert.equal(ruleCovers(rule, "", "pods/exec", "create"), true);
    assert.equal(ruleCovers(rule, "", "pods", "create"), false);
    const sub = { apiGroups: [""], resources: ["pods/*"], verbs: ["get"] };
    assert.equal(ruleCovers(sub, "", "pods/log", "get"), true);
    assert.equal(ruleCovers(sub, "", "pods", "get"), false);
    assert.equal(ruleCovers(sub, "apps", "pods/log", "get"), false);
  });

  it("finds each escalation class in a rule that grants it", () => {
    const cases: [string[], string[], string[], string][] = [
      [[""], ["secrets"], ["list"], "secrets-read"],
      [["apps"], ["daemonsets"], ["create"], "pod-creation"],
      [["rbac.authorization.k8s.io"], ["clusterroles"], ["bind"], "bind-escalate"],
      [[""], ["serviceaccounts"], ["impersonate"], "impersonate"],
      [[""], ["persistentvolumes"], ["create"], "persistent-volumes"],
      [[""], ["nodes/proxy"], ["get"], "nodes-proxy"],
      [
        ["certificates.k8s.io"],
        ["certificatesigningrequests/approval"],
        ["update"],
        "csr-approval",
      ],
      [
        ["admissionregistration.k8s.io"],
        ["mutatingwebhookconfigurations"],
        ["patch"],
        "admission-webhooks",
      ],
      [[""], ["serviceaccounts/token"], ["create"], "token-minting"],
      [[""], ["pods/attach"], ["create"], "exec-attach"],
      [[""], ["pods/portforward"], ["create"], "port-forward"],
      [[""], ["namespaces"], ["patch"], "namespace-patch"],
      [["networking.k8s.io"], ["networkpolicies"], ["delete"], "guardrail-edit"],
      [["*"], ["configmaps"], ["get"], "wildcard"],
    ];
    for (const [apiGroups, resources, verbs, cls] of cases) {
      assert.ok(
        escalationClasses({ apiGroups, resources, verbs }).includes(cls as never),
        `${resources} ${verbs} should carry ${cls}`,
      );
    }
  });

  it("finds no class in a harmless rule", () => {
    assert.deepEqual(
      escalationClasses({ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "create"] }),
      [],
    );
  });

  it("normalizes rules so that order never causes a diff", () => {
    const a = normalizeRules([
      { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "create"] },
      { apiGroups: [""], resources: ["services", "configmaps"], verbs: ["list"] },
      { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get"] },
    ]);
    const b = normalizeRules([
      { apiGroups: [""], resources: ["configmaps", "services"], verbs: ["list", "list"] },
      { apiGroups: ["apps"], resources: ["deployments"], verbs: ["create", "get"] },
    ]);
    assert.deepEqual(a, b);
    assert.deepEqual(a[1], {
      apiGroups: ["apps"],
      resources: ["deployments"],
      verbs: ["create", "get"],
    });
  });
});

describe("deployer profile", () => {
  it("explains every rule", () => {
    for (const rule of BASE_PROFILE) assert.ok(rule.why.length > 20, JSON.stringify(rule));
  });

  it("contains no wildcard anywhere", () => {
    for (const rule of deployerRules({ allowRbac: true, tiller: true })) {
      for (const field of [rule.apiGroups, rule.resources, rule.verbs]) {
        assert.ok(!field.some((v) => v.includes("*")), JSON.stringify(rule));
      }
    }
  });

  it("carries only the documented escalation classes", () => {
    const carried = classesOf(deployerRules({ allowRbac: true, tiller: true }));
    assert.deepEqual(
      [...carried].filter((c) => !DOCUMENTED_CLASSES.has(c)),
      [],
    );
  });

  it("grants port-forward only when the stage runs Tiller", () => {
    assert.ok(!classesOf(deployerRules({ allowRbac: false, tiller: false })).has("port-forward"));
    assert.ok(classesOf(deployerRules({ allowRbac: false, tiller: true })).has("port-forward"));
  });

  it("cannot mint tokens, exec, bind, impersonate or edit its guardrails", () => {
    const carried = classesOf(deployerRules({ allowRbac: true, tiller: true }));
    for (const cls of [
      "token-minting",
      "exec-attach",
      "bind-escalate",
      "impersonate",
      "guardrail-edit",
      "namespace-patch",
    ]) {
      assert.ok(!carried.has(cls as never), cls);
    }
  });

  it("gives Tiller no rule the deployer lacks", () => {
    for (const allowRbac of [false, true]) {
      const deployer = deployerRules({ allowRbac, tiller: true });
      for (const rule of tillerRules({ allowRbac })) {
        for (const group of rule.apiGroups) {
          for (const resource of rule.resources) {
            for (const verb of rule.verbs) {
              assert.ok(
                deployer.some((d) => ruleCovers(d, group, resource, verb)),
                `tiller has ${verb} ${group}/${resource}`,
              );
            }
          }
        }
      }
    }
  });
});
