// The legacy long-lived deployer token on the real API server, through the real Pulumi CLI: every
// preview warns about it, it never expires, and a rotation kills it within seconds of the `up`
// (its ServiceAccount is replaced, and with it the token Secret). One stack, tests in order.
import * as assert from "node:assert/strict";
import * as yaml from "js-yaml";
import { jwtClaims } from "../../policy/credentials";
import { ApiEndpoint, tokenOf, whoAmI } from "./kube";
import { collect, createTestStack, TestStack, uniqueSuffix, waitFor } from "./support";

const NS = `e2e-legacy-${uniqueSuffix()}`;

const stackConfig = (rotation: string) => ({
  mode: "all",
  cluster: { name: "local" },
  stages: {
    c: { namespace: NS, deletable: true, deployer: { rotation, credential: { kind: "legacy" } } },
  },
});

function endpointOf(kubeconfig: string): ApiEndpoint {
  const cluster = (yaml.load(kubeconfig) as any).clusters[0].cluster;
  return {
    server: cluster.server,
    ca: Buffer.from(cluster["certificate-authority-data"], "base64"),
  };
}

describe("legacy long-lived deployer token on the real API server", function () {
  this.timeout(10 * 60_000);
  let t: TestStack;
  let api: ApiEndpoint;
  let oldToken: string;
  let firstOutputs: Record<string, any>;
  const measured: string[] = [];

  before(async () => {
    t = await createTestStack("legacy");
    t.setConfig(stackConfig("r1"));
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    for (const line of measured) console.log(`      [measured] ${line}`);
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
  });

  it("warns at every preview that the token is long-lived", async () => {
    for (let i = 0; i < 2; i++) {
      const out: string[] = [];
      await t.stack.preview({ onOutput: (s) => out.push(s) });
      assert.match(out.join(""), /deployer\.credential\.kind is legacy: .*long-lived/);
    }
  });

  it("exports a token without an expiry, bound to a Secret, for the deployer's ServiceAccount", async () => {
    const up = await t.stack.up({ onOutput: collect(t) });
    firstOutputs = up.outputs;
    const kubeconfig = up.outputs.kubeconfigs.value.c;
    api = endpointOf(kubeconfig);
    oldToken = await tokenOf(kubeconfig);
    const claims = jwtClaims(oldToken) as Record<string, unknown>;
    assert.equal(claims.exp, undefined, "a legacy token has no expiry");
    assert.equal(claims["kubernetes.io/serviceaccount/namespace"], NS);
    assert.ok(claims["kubernetes.io/serviceaccount/secret.name"], "not a token Secret's token");
    const summary = up.outputs.stages.value.c;
    assert.deepEqual(summary.credential, {
      kind: "legacy",
      expiresAt: null,
      credentialId: null,
      expiryWarningSeconds: null,
    });
    const review = await whoAmI(api, oldToken);
    assert.equal(review.status, 201);
    assert.equal(
      review.body.status.userInfo.username,
      `system:serviceaccount:${NS}:${summary.serviceAccount}`,
    );
    assert.match(t.log.join(""), /deployer\.credential\.kind is legacy/);
  });

  it("revokes the token on a rotation up (time measured from the start of the up)", async () => {
    t.setConfig(stackConfig("r2"));
    const t0 = Date.now();
    const dead = waitFor("a 401 for the old legacy token", 300, async () =>
      (await whoAmI(api, oldToken)).status === 401 ? Date.now() - t0 : undefined,
    );
    const up = await t.stack.up({ onOutput: collect(t) });
    const upSeconds = (Date.now() - t0) / 1000;
    const ms = await dead;
    measured.push(
      `legacy rotation: old token 401 ${(ms / 1000).toFixed(1)} s after the start of \`up\` (the up took ${upSeconds.toFixed(1)} s)`,
    );
    assert.notEqual(
      up.outputs.stages.value.c.serviceAccount,
      firstOutputs.stages.value.c.serviceAccount,
    );
    const fresh = await tokenOf(up.outputs.kubeconfigs.value.c);
    assert.equal((await whoAmI(api, fresh)).status, 201);
  });
});
