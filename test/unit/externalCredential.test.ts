// The external credential kind without a cluster: an identity the cluster's own authenticator maps
// (EKS, GKE, AKS), bound by user and group; a kubeconfig that only runs the operator's exec plugin;
// the guardrails treating it as CI; verify's identity comparison; config validation.
import { classesOf } from "../../policy/admissionPolicies/merged";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { parseConfig } from "../../config";
import { ciRequester, CI_REQUESTER } from "../../policy/admission";
import { externalIdentityMismatch, strayStageGrants } from "../../policy/credentials";
import { allModeConfig } from "./fixtures";
import { promiseOf, runProgram } from "./harness";

const EXTERNAL = {
  user: "ci-deployer",
  groups: ["ci", "deployers"],
  exec: {
    command: "aws",
    args: ["eks", "get-token", "--cluster-name", "shop"],
    env: ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"],
  },
};
const VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";

async function run(external: unknown = EXTERNAL) {
  const config = allModeConfig();
  config.stages.dev.deployer.credential = { kind: "external", external };
  const result = await runProgram(config);
  if (result.error) throw result.error;
  return result;
}

describe("the external credential kind", () => {
  it("binds the stage Role to the configured user and groups, with no ServiceAccount", async () => {
    const result = await run();
    const binding = result.one(
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      "dev-deployer-binding",
    );
    assert.deepEqual(binding.inputs.subjects, [
      { apiGroup: "rbac.authorization.k8s.io", kind: "User", name: "ci-deployer" },
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "ci" },
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "deployers" },
    ]);
    const accounts = result.byType("kubernetes:core/v1:ServiceAccount").map((r) => r.name);
    assert.deepEqual(accounts, ["dev-tiller-sa"]);
    const stages = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.deepEqual(stages.dev.credential.external, {
      user: "ci-deployer",
      groups: ["ci", "deployers"],
    });
  });

  it("exports a kubeconfig that runs the exec plugin and holds no secret and no env value", async () => {
    const result = await run();
    const kubeconfigs = result.outputs.kubeconfigs as pulumi.Output<Record<string, string>>;
    const user = (yaml.load((await promiseOf(kubeconfigs)).dev) as any).users[0].user;
    assert.deepEqual(Object.keys(user), ["exec"]);
    assert.equal(user.exec.command, "aws");
    assert.deepEqual(user.exec.args, EXTERNAL.exec.args);
    assert.equal(user.exec.env, null);
    assert.equal(user.exec.apiVersion, "client.authentication.k8s.io/v1");
    assert.match(user.exec.installHint, /reads AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE/);
  });

  it("applies the CI guardrails to the external user and groups too", async () => {
    const result = await run();
    const expected = ciRequester({
      ciIdentities: { users: ["ci-deployer"], groups: ["ci", "deployers"] },
    });
    assert.equal(
      expected,
      `${CI_REQUESTER} || request.userInfo.username in ["ci-deployer"] || request.userInfo.groups.exists(g, g in ["ci", "deployers"])`,
    );
    const [policy] = result.byType(VAP);
    const classes = classesOf(policy.inputs.spec);
    for (const cls of ["rbac", "identities", "access", "volumes"]) {
      const c = classes.find((x) => x.class === cls)!;
      assert.ok(c.guard.endsWith(` && (${expected})`), `${cls}: ${c.guard}`);
    }
  });

  it("counts the external user and groups as the stage's own identities, no one else", () => {
    const binding = (kind: string, name: string) => ({
      metadata: { name: `b-${name}` },
      roleRef: { kind: "Role", name: "scoped-deployer" },
      subjects: [{ kind, name }],
    });
    const stray = strayStageGrants(
      [
        binding("User", "ci-deployer"),
        binding("Group", "ci"),
        binding("Group", "intruders"),
        binding("User", "ci"),
      ],
      { serviceAccount: null, users: ["ci-deployer"], groups: ["ci"] },
    );
    assert.deepEqual(stray, [
      "RoleBinding b-ci grants Role scoped-deployer to User ci",
      "RoleBinding b-intruders grants Role scoped-deployer to Group intruders",
    ]);
  });

  it("compares the identity in use with the configured one", () => {
    const ok = { username: "ci-deployer", groups: ["ci", "deployers", "system:authenticated"] };
    assert.equal(externalIdentityMismatch(EXTERNAL, ok), undefined);
    assert.equal(
      externalIdentityMismatch(EXTERNAL, { ...ok, username: "someone-else" }),
      "the API server says user someone-else, not ci-deployer",
    );
    assert.equal(
      externalIdentityMismatch({ groups: ["ci"] }, { username: "x", groups: ["other"] }),
      "x is not in group ci (groups: other)",
    );
  });

  const problems = (external: unknown, kind = "external") => {
    const config = allModeConfig();
    config.stages.dev.deployer.credential = { kind, external };
    return parseConfig(config).problems;
  };
  const KEY = "scoped-cd:stages.dev.deployer.credential";
  const CASES: [string, unknown, string[]][] = [
    [
      "neither user nor groups",
      { exec: { command: "x" } },
      [`${KEY}.external: must name a user or groups (or both)`],
    ],
    [
      "a system: group (every authenticated identity)",
      { groups: ["system:authenticated"], exec: { command: "x" } },
      [
        `${KEY}.external.groups[0]: must not start with system: or oidc: (the cluster's own and the OIDC kind's names)`,
      ],
    ],
    [
      "an OIDC user name",
      { user: "oidc:https://jenkins/job/x/#1", exec: { command: "x" } },
      [
        `${KEY}.external.user: must not start with system: or oidc: (the cluster's own and the OIDC kind's names)`,
      ],
    ],
    [
      "an env value (a secret in the kubeconfig)",
      { user: "u", exec: { command: "x", env: ["AWS_SECRET_ACCESS_KEY=abc"] } },
      [
        `${KEY}.external.exec.env[0]: must be an environment variable name (no =value: the kubeconfig holds no value)`,
      ],
    ],
  ];
  for (const [what, external, expected] of CASES) {
    it(`refuses ${what}`, () => assert.deepEqual(problems(external), expected));
  }
  it("requires external with kind external, and refuses it with another kind", () => {
    const config = allModeConfig();
    config.stages.dev.deployer.credential = { kind: "external" };
    assert.deepEqual(parseConfig(config).problems, [
      `${KEY}.external: is required when kind is external (user and/or groups, exec)`,
    ]);
    assert.deepEqual(
      problems(EXTERNAL, "oidc").filter((p) => p.includes(".external")),
      [`${KEY}.external: is read only when kind is external (kind is oidc)`],
    );
  });
});
