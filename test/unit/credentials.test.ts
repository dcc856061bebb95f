// The deployer's credential kinds without a cluster: the renewal decision, the rendered JWT
// authenticator, the secret-free OIDC kubeconfig, the program per kind, and config validation.
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { parseConfig } from "../../config";
import {
  authenticationConfiguration,
  expiresWithin,
  jwtAuthenticator,
  jwtClaims,
  renewalDecision,
  strayStageGrants,
} from "../../policy/credentials";
import { renderScopedKubeconfig } from "../../components/access/kubeconfig";
import { allModeConfig } from "./fixtures";
import { credentialExpiryWarning } from "../../cli/commands/verify";
import { StageSummary } from "../../components/outputs";
import { CA_DATA, promiseOf, runProgram, RunResult, TOKEN } from "./harness";

const JOB = "https://jenkins.example.com/job/shop/job/deploy/";
const TRUST = {
  issuer: "https://jenkins.example.com/oidc",
  audience: "scoped-cd",
  jobs: [JOB],
  branches: ["main"],
};

describe("the renewal decision", () => {
  const token = { issuedAt: 1000, expiresAt: 1000 + 3600 };
  const wanted = { lifetimeSeconds: 3600, renewAfter: 0.5 };

  it("keeps the token before the configured share of its lifetime has passed", () => {
    assert.deepEqual(renewalDecision(token, wanted, 1000 + 1799), { renew: false, renewAt: 2800 });
  });

  it("renews once the configured share has passed", () => {
    assert.deepEqual(renewalDecision(token, wanted, 2800), {
      renew: true,
      reason: "50% of the token's lifetime has passed",
    });
  });

  it("renews an expired token", () => {
    assert.deepEqual(renewalDecision(token, wanted, 4600), {
      renew: true,
      reason: "the token has expired",
    });
  });

  it("renews when the configured lifetime changed", () => {
    assert.deepEqual(renewalDecision(token, { ...wanted, lifetimeSeconds: 7200 }, 1001), {
      renew: true,
      reason: "the configured lifetime changed (3600s -> 7200s)",
    });
  });

  it("tells verify how long is left only within the margin", () => {
    const expiresAt = new Date(10_000 * 1000).toISOString();
    assert.equal(expiresWithin(expiresAt, 600, 9_000), undefined);
    assert.equal(expiresWithin(expiresAt, 600, 9_500), 500);
  });
});

describe("the OIDC JWT authenticator", () => {
  it("accepts only the configured jobs and branches and maps job and build to the username", () => {
    assert.deepEqual(jwtAuthenticator(TRUST), {
      issuer: { url: TRUST.issuer, audiences: ["scoped-cd"] },
      claimValidationRules: [
        {
          expression: `claims.sub in ["${JOB}"]`,
          message: "the ID token's job (sub) is not one scoped-cd trusts for this issuer",
        },
        {
          expression: "has(claims.build_number)",
          message: "the ID token carries no build_number (attribution needs it)",
        },
        {
          expression: 'has(claims.branch) && claims.branch in ["main"]',
          message: "the ID token's branch is not one scoped-cd trusts for this issuer",
        },
      ],
      claimMappings: {
        username: { expression: '"oidc:" + claims.sub + "#" + string(int(claims.build_number))' },
        groups: { expression: '["oidc:job:" + claims.sub]' },
        uid: { expression: "claims.sub" },
      },
      userValidationRules: [
        {
          expression: '!user.username.startsWith("system:")',
          message: "username must not use the system: prefix",
        },
      ],
    });
  });

  it("merges the stages that trust one issuer into one entry of an AuthenticationConfiguration", () => {
    const other = "https://jenkins.example.com/job/shop/job/promote/";
    const config = authenticationConfiguration([TRUST, { ...TRUST, jobs: [other] }]);
    assert.equal(config.apiVersion, "apiserver.config.k8s.io/v1");
    assert.equal(config.kind, "AuthenticationConfiguration");
    assert.equal(config.jwt.length, 1);
    assert.equal(
      config.jwt[0].claimValidationRules[0].expression,
      `claims.sub in ["${JOB}", "${other}"]`,
    );
  });

  it("refuses one issuer trusted with two audiences", () => {
    assert.throws(
      () => authenticationConfiguration([TRUST, { ...TRUST, audience: "other" }]),
      /issuer https:\/\/jenkins.example.com\/oidc is trusted with two audiences \(scoped-cd, other\); use one audience per issuer/,
    );
  });
});

describe("the OIDC kubeconfig", () => {
  const text = renderScopedKubeconfig({
    clusterName: "local",
    stage: "dev",
    server: "https://127.0.0.1:16443",
    caData: CA_DATA,
    credential: { oidc: true },
    namespace: "shop-dev",
  });
  const user = (yaml.load(text) as any).users[0].user;

  it("holds no token, password, key or certificate", () => {
    assert.deepEqual(Object.keys(user), ["exec"]);
    assert.doesNotMatch(text, /token:|password|client-key|client-certificate/);
  });

  it("reads the build's ID token from the environment, never from its argv", () => {
    assert.equal(user.exec.command, "sh");
    assert.match(user.exec.args[1], /"\$SCOPED_CD_ID_TOKEN"/);
    assert.equal(user.exec.interactiveMode, "Never");
  });

  it("decodes a JWT's claims", () => {
    const jwt = `x.${Buffer.from(JSON.stringify({ iat: 1, exp: 601 })).toString("base64url")}.y`;
    assert.deepEqual(jwtClaims(jwt), { iat: 1, exp: 601 });
  });
});

describe("the program per credential kind", function () {
  this.timeout(30_000); // the first run serializes the dynamic provider
  async function run(credential: Record<string, unknown>): Promise<RunResult> {
    const config = allModeConfig();
    config.stages.dev.deployer.credential = credential;
    const result = await runProgram(config);
    if (result.error) throw result.error;
    return result;
  }

  it("mints an expiring token by default and reports its expiry and credential ID", async () => {
    const result = await run({});
    const token = result.one("pulumi-nodejs:dynamic/scoped-cd:TokenRequest", "dev-deployer-token");
    assert.equal(token.inputs.lifetimeSeconds, 86400);
    assert.equal(token.inputs.renewAfter, 0.5);
    const stages = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.deepEqual(stages.dev.credential, {
      kind: "token",
      expiresAt: "2026-11-26T00:00:00.000Z",
      credentialId: "JTI=00000000-0000-4000-8000-000000000000",
      expiryWarningSeconds: 3600,
    });
    const kubeconfigs = result.outputs.kubeconfigs as pulumi.Output<Record<string, string>>;
    assert.equal(await pulumi.isSecret(kubeconfigs), true);
    assert.equal((yaml.load((await promiseOf(kubeconfigs)).dev) as any).users[0].user.token, TOKEN);
  });

  it("keeps no admin credential among the token request's inputs", async () => {
    const result = await run({});
    const token = result.one("pulumi-nodejs:dynamic/scoped-cd:TokenRequest", "dev-deployer-token");
    const inputs = JSON.stringify({ ...token.inputs, __provider: undefined });
    assert.doesNotMatch(inputs, /kubeconfig|client-key|BEGIN/);
  });

  it("binds the OIDC job groups and creates no ServiceAccount for the deployer", async () => {
    const result = await run({ kind: "oidc", oidc: TRUST });
    const binding = result.one(
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      "dev-deployer-binding",
    );
    assert.deepEqual(binding.inputs.subjects, [
      { apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `oidc:job:${JOB}` },
    ]);
    const accounts = result.byType("kubernetes:core/v1:ServiceAccount").map((r) => r.name);
    assert.deepEqual(accounts, ["dev-tiller-sa"]);
    const stages = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.deepEqual(stages.dev.credential, {
      kind: "oidc",
      expiresAt: null,
      credentialId: null,
      expiryWarningSeconds: null,
      auditUsers: [`oidc:${JOB}#<build number>`],
    });
    assert.deepEqual(
      result.outputs.authentication,
      authenticationConfiguration([{ ...TRUST, maxTokenLifetimeSeconds: 3600 }]),
    );
    assert.equal(stages.dev.serviceAccount, null);
  });

  it("keeps the legacy token Secret for clusters that need it", async () => {
    const result = await run({ kind: "legacy" });
    const secrets = result
      .byType("kubernetes:core/v1:Secret")
      .filter((s) => s.inputs.type === "kubernetes.io/service-account-token");
    assert.equal(secrets.length, 1);
    assert.equal(result.byType("pulumi-nodejs:dynamic/scoped-cd:TokenRequest").length, 0);
  });
});

describe("verify's expiry warning", () => {
  const summary = (expiresAt: string | null, kind: "token" | "oidc" = "token") =>
    ({
      namespace: "shop-dev",
      serviceAccount: "deployer-abc123",
      rotation: "r1",
      credential: { kind, expiresAt, credentialId: "JTI=x", expiryWarningSeconds: 600 },
      tiller: { enabled: false, namespace: null },
      releases: {},
    }) as StageSummary;
  const at = new Date(10_000 * 1000).toISOString();

  it("warns when the token expires within the margin", () => {
    assert.equal(
      credentialExpiryWarning("dev", summary(at), 9_500),
      `stage dev: the deployer token expires in 500s (${at}); run the access stack's up to renew it`,
    );
  });

  it("says nothing before the margin, or for a credential that does not expire", () => {
    assert.equal(credentialExpiryWarning("dev", summary(at), 9_000), undefined);
    assert.equal(credentialExpiryWarning("dev", summary(null, "oidc"), 9_999), undefined);
  });
});

describe("grants a rotation cannot take back", () => {
  const binding = (name: string, role: string, subjects: { kind: string; name: string }[]) => ({
    metadata: { name },
    roleRef: { kind: "Role", name: role },
    subjects,
  });

  it("reports a stage Role bound to anyone but the current deployer and Tiller", () => {
    const bindings = [
      binding("scoped-deployer", "scoped-deployer", [
        { kind: "ServiceAccount", name: "deployer-new123" },
      ]),
      binding("tiller", "tiller", [{ kind: "ServiceAccount", name: "tiller-new123" }]),
      binding("persist", "scoped-deployer", [{ kind: "ServiceAccount", name: "persist" }]),
      binding("old", "tiller", [{ kind: "ServiceAccount", name: "deployer-old456" }]),
      binding("chart", "app-reader", [{ kind: "ServiceAccount", name: "app" }]),
    ];
    assert.deepEqual(strayStageGrants(bindings, { serviceAccount: "deployer-new123" }), [
      "RoleBinding old grants Role tiller to ServiceAccount deployer-old456",
      "RoleBinding persist grants Role scoped-deployer to ServiceAccount persist",
    ]);
  });

  it("trusts the OIDC job groups and the named Tiller account, and nothing else, for OIDC", () => {
    const bindings = [
      binding("scoped-deployer", "scoped-deployer", [
        { kind: "Group", name: "oidc:job:https://ci.example/job/shop/" },
      ]),
      binding("tiller", "tiller", [{ kind: "ServiceAccount", name: "tiller-abc" }]),
      binding("persist", "scoped-deployer", [{ kind: "ServiceAccount", name: "persist" }]),
      binding("everyone", "tiller", [{ kind: "Group", name: "system:authenticated" }]),
    ];
    const current = {
      serviceAccount: null,
      tillerServiceAccount: "tiller-abc",
      groupPrefix: "oidc:job:",
    };
    assert.deepEqual(strayStageGrants(bindings, current), [
      "RoleBinding everyone grants Role tiller to Group system:authenticated",
      "RoleBinding persist grants Role scoped-deployer to ServiceAccount persist",
    ]);
    // Without the prefix the job group is as foreign as any other.
    assert.equal(strayStageGrants(bindings, { serviceAccount: null }).length, 4);
  });
});

describe("credential configuration", () => {
  function problems(credential: unknown): string[] {
    const config = allModeConfig();
    config.stages.dev.deployer.credential = credential;
    return parseConfig(config).problems;
  }

  const CASES: [string, unknown, string[]][] = [
    [
      "a lifetime below the TokenRequest minimum",
      { lifetimeSeconds: 599 },
      [
        "scoped-cd:stages.dev.deployer.credential.lifetimeSeconds: must be at least 600 (the TokenRequest API's minimum)",
      ],
    ],
    [
      "a renewal share of 1",
      { renewAfter: 1 },
      [
        "scoped-cd:stages.dev.deployer.credential.renewAfter: must be a share of the lifetime, less than 1 (renew before it expires)",
      ],
    ],
    [
      "an unknown kind",
      { kind: "password" },
      [
        'scoped-cd:stages.dev.deployer.credential.kind: must be one of "token", "oidc", "legacy", "external"',
      ],
    ],
    [
      "oidc without its trust",
      { kind: "oidc" },
      [
        "scoped-cd:stages.dev.deployer.credential.oidc: is required when kind is oidc (issuer, audience, jobs)",
      ],
    ],
    [
      "a token setting with another kind",
      { kind: "legacy", lifetimeSeconds: 3600 },
      [
        "scoped-cd:stages.dev.deployer.credential.lifetimeSeconds: is read only when kind is token (kind is legacy)",
      ],
    ],
    [
      "an http issuer and no jobs",
      { kind: "oidc", oidc: { ...TRUST, issuer: "http://jenkins", jobs: [] } },
      [
        "scoped-cd:stages.dev.deployer.credential.oidc.issuer: must be an https:// URL",
        "scoped-cd:stages.dev.deployer.credential.oidc.jobs: must list at least one job",
      ],
    ],
    [
      "a warning margin as long as the lifetime",
      { lifetimeSeconds: 600, expiryWarningSeconds: 600 },
      [
        "scoped-cd:stages.dev.deployer.credential.expiryWarningSeconds: must be shorter than lifetimeSeconds (verify would always warn)",
      ],
    ],
  ];
  for (const [what, credential, expected] of CASES) {
    it(`rejects ${what}`, () => assert.deepEqual(problems(credential).sort(), expected.sort()));
  }
});
