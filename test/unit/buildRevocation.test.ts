// Per-build revocation of OIDC ID tokens without a cluster: the claim validation rules an entry
// compiles to, when an entry expires, the config schema, what `scoped-cd revoke` writes, and the
// program's `authentication` output with entries in force and expired.
import * as assert from "node:assert/strict";
import { parseConfig } from "../../config";
import {
  activeRevocations,
  authenticationConfiguration,
  revocationExpiresAt,
  revocationRule,
  trustInForce,
} from "../../policy/credentials";
import {
  revisedRevocations,
  revocableTrust,
  revocationConfigKeys,
  revokeArgs,
} from "../../cli/commands/revoke";
import { allModeConfig } from "./fixtures";
import { runProgram } from "./harness";

const JOB = "https://jenkins.example.com/job/shop/job/deploy/";
const OTHER = "https://jenkins.example.com/job/shop/job/other/";
const OIDC = {
  issuer: "https://jenkins.example.com/oidc",
  audience: "scoped-cd",
  jobs: [JOB],
  tokenLifetimeSeconds: 3600,
  revoked: [] as any[],
};
const T0 = Date.parse("2026-12-02T13:00:00Z") / 1000;
const at = (s: number) => new Date(s * 1000).toISOString();

/** The unit fixture's dev stage with the OIDC kind (no Tiller) and these revocations. */
function oidcStageConfig(revoked: unknown[]) {
  const c = allModeConfig();
  c.stages.dev.tiller = { enabled: false };
  c.stages.dev.deployer.credential = { kind: "oidc", oidc: { ...OIDC, revoked } };
  return c;
}

describe("per-build revocation", () => {
  it("compiles a build to a rule on the job and the build number", () => {
    assert.deepEqual(revocationRule({ build: `${JOB}#412`, at: at(T0) }, [JOB]), {
      expression: `!(claims.sub == "${JOB}" && has(claims.build_number) && string(int(claims.build_number)) == "412")`,
      message: `build ${JOB}#412 was revoked (scoped-cd revoke)`,
    });
  });

  it("compiles issued-before to a rule on iat for the stage's jobs only", () => {
    const rule = revocationRule({ issuedBefore: at(T0) }, [JOB]);
    assert.equal(
      rule.expression,
      `!(claims.sub in ["${JOB}"]) || (has(claims.iat) && int(claims.iat) >= ${T0})`,
    );
  });

  it("expires an entry one token lifetime after the tokens it covers were issued", () => {
    const build = { build: `${JOB}#1`, at: at(T0) };
    const before = { issuedBefore: at(T0 - 600) };
    assert.equal(revocationExpiresAt(build, 3600), T0 + 3600);
    assert.deepEqual(activeRevocations([build, before], 3600, T0 + 3599 - 600), [build, before]);
    assert.deepEqual(activeRevocations([build, before], 3600, T0 + 3000), [build]);
    assert.deepEqual(activeRevocations([build, before], 3600, T0 + 3600), []);
  });

  it("puts the rules in force into the authenticator, merged per issuer", () => {
    const a = trustInForce({ ...OIDC, revoked: [{ build: `${JOB}#7`, at: at(T0) }] }, T0 + 10);
    const b = trustInForce(
      { ...OIDC, jobs: [OTHER], revoked: [{ issuedBefore: at(T0 - 7200) }] },
      T0 + 10,
    );
    const rules = authenticationConfiguration([a, b]).jwt[0].claimValidationRules;
    assert.equal(
      rules.length,
      4,
      "sub, build_number, the lifetime bound, and one rule in force (the other expired)",
    );
    assert.match(rules[3].expression, /"7"\)$/);
  });

  it("refuses tokens that live longer than the configured lifetime (they would outlast an entry)", () => {
    const short = trustInForce({ ...OIDC, tokenLifetimeSeconds: 600 }, T0);
    const rules = authenticationConfiguration([trustInForce(OIDC, T0), short]).jwt[0]
      .claimValidationRules;
    assert.deepEqual(
      rules.filter((r) => r.expression.includes("claims.exp")),
      [
        {
          expression: "has(claims.iat) && int(claims.exp) - int(claims.iat) <= 600",
          message:
            "the ID token lives longer than 600s (oidc.tokenLifetimeSeconds): a revocation would expire before it",
        },
      ],
      "one bound per issuer, the shortest of its stages'",
    );
  });

  it("validates entries in the config schema, naming the key", () => {
    const c = oidcStageConfig([
      { build: `${OTHER}#3`, at: at(T0) },
      { build: "no-number", at: "yesterday" },
    ]);
    const { problems } = parseConfig(c);
    assert.deepEqual(problems, [
      "scoped-cd:stages.dev.deployer.credential.oidc.revoked[1].build: must be <job URL>#<build number>",
      "scoped-cd:stages.dev.deployer.credential.oidc.revoked[1].at: must be an RFC 3339 time such as 2026-12-02T13:00:00Z",
      `scoped-cd:stages.dev.deployer.credential.oidc.revoked[0].build: names job ${OTHER}, which is not in jobs`,
    ]);
  });

  it("revoke adds the entry, drops expired ones, and refuses a job the stage does not trust", () => {
    const old = { build: `${JOB}#1`, at: at(T0 - 4000) };
    const live = { issuedBefore: at(T0 - 100) };
    const r = revisedRevocations({ ...OIDC, revoked: [old, live] }, { build: `${JOB}#2` }, T0);
    assert.deepEqual(r, {
      revoked: [live, { build: `${JOB}#2`, at: at(T0) }],
      added: { build: `${JOB}#2`, at: at(T0) },
      dropped: 1,
    });
    assert.throws(
      () => revisedRevocations(OIDC, { build: `${OTHER}#2` }, T0),
      /the job is not one the stage trusts/,
    );
    assert.deepEqual(revocationConfigKeys("dev", r.revoked), {
      "scoped-cd:stages.dev.deployer.credential.oidc.revoked[0].issuedBefore": {
        value: at(T0 - 100),
      },
      "scoped-cd:stages.dev.deployer.credential.oidc.revoked[1].build": { value: `${JOB}#2` },
      "scoped-cd:stages.dev.deployer.credential.oidc.revoked[1].at": { value: at(T0) },
    });
  });

  it("revoke reads the stage's trust with the schema's defaults, and refuses a token kind", () => {
    assert.deepEqual(
      revocableTrust("dev", { deployer: { credential: { kind: "oidc", oidc: { jobs: [JOB] } } } }),
      {
        jobs: [JOB],
        tokenLifetimeSeconds: 3600,
        revoked: [],
      },
    );
    assert.throws(
      () => revocableTrust("dev", {}),
      /stage dev uses credential kind token: revoke applies to oidc/,
    );
  });

  it("revoke takes exactly one of --build and --issued-before", () => {
    const base = { stack: "s", stage: "dev", workDir: "." };
    assert.throws(() => revokeArgs(base), /give one of --build/);
    assert.throws(
      () => revokeArgs({ ...base, build: `${JOB}#1`, issuedBefore: at(T0) }),
      /give one of --build/,
    );
    assert.throws(() => revokeArgs({ ...base, build: JOB }), /expected <job URL>#<build number>/);
    assert.throws(() => revokeArgs({ ...base, issuedBefore: "soon" }), /RFC 3339/);
    assert.deepEqual(revokeArgs({ ...base, issuedBefore: "2026-12-02T14:00:00+01:00" }).entry, {
      issuedBefore: at(T0),
    });
  });

  it("the program's authentication output holds entries in force, not expired ones", async () => {
    const now = Math.floor(Date.now() / 1000);
    const c = oidcStageConfig([
      { build: `${JOB}#5`, at: at(now - 60) },
      { build: `${JOB}#4`, at: at(now - 3700) },
    ]);
    const result = await runProgram(c);
    assert.equal(result.error, undefined);
    const auth = result.outputs.authentication as any;
    const rules = auth.jwt[0].claimValidationRules.map((r: any) => r.expression);
    assert.ok(rules.some((e: string) => e.endsWith(`== "5")`)));
    assert.ok(!rules.some((e: string) => e.endsWith(`== "4")`)));
  });
});
