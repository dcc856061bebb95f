// The expiring deployer token on the real API server, through the real Pulumi CLI: its lifetime,
// its credential ID, revocation by deleting its binding object, renewal with an overlap, rotation
// that revokes at once (measured), and what a holder of the token could try to leave behind.
// One stack is shared by the tests below, which run in order.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { strayGrantsCheck } from "../../cli/lib/identityCheck";
import { jwtClaims } from "../../policy/credentials";
import { adminClients, bearerRequest, Clients, whoAmI as selfSubjectReview } from "./kube";
import {
  collect,
  createTestStack,
  pathsContaining,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const NS = `e2e-cred-${uniqueSuffix()}`;
const LIFETIME = 600;

function stackConfig(rotation: string, renewAfter: number) {
  return {
    mode: "all",
    cluster: { name: "local" },
    stages: {
      c: {
        namespace: NS,
        deletable: true,
        deployer: {
          rotation,
          allowRbac: true,
          credential: { lifetimeSeconds: LIFETIME, renewAfter, expiryWarningSeconds: 60 },
        },
        tiller: { enabled: true },
      },
    },
  };
}

interface Scoped {
  server: string;
  ca: Buffer;
  token: string;
}

function scopedFrom(kubeconfig: string): Scoped {
  const doc = yaml.load(kubeconfig) as any;
  return {
    server: doc.clusters[0].cluster.server,
    ca: Buffer.from(doc.clusters[0].cluster["certificate-authority-data"], "base64"),
    token: doc.users[0].user.token,
  };
}

const whoAmI = (s: Scoped) => selfSubjectReview(s, s.token);

/** One request with the scoped token. */
const request = (s: Scoped, method: string, path: string, body?: unknown) =>
  bearerRequest(s, s.token, method, path, body);

/** Poll until the token gets 401; resolves with the milliseconds since `since`. */
async function until401(s: Scoped, since: number, seconds: number): Promise<number> {
  return waitFor(`a 401 for the old token`, seconds, async () =>
    (await whoAmI(s)).status === 401 ? Date.now() - since : undefined,
  );
}

describe("expiring deployer token (TokenRequest) on the real API server", function () {
  this.timeout(10 * 60_000);
  let t: TestStack;
  let admin: Clients;
  let first: Scoped;
  let firstOutputs: Record<string, any>;
  const report: string[] = [];

  before(async () => {
    admin = await adminClients();
    t = await createTestStack("credentials");
    t.setConfig(stackConfig("r1", 0.9));
    const up = await t.stack.up({ onOutput: collect(t) });
    firstOutputs = up.outputs;
    first = scopedFrom(up.outputs.kubeconfigs.value.c);
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed")
      console.log(t?.log.join(""));
    for (const line of report) console.log(`      [measured] ${line}`);
    await t?.stack.destroy({ onOutput: collect(t) }).catch((err) => console.error(String(err)));
    await t?.remove().catch(() => undefined);
  });

  it("mints a token whose lifetime is the configured one and reports its expiry and credential ID", async () => {
    const claims = jwtClaims(first.token) as { iat: number; exp: number; jti: string };
    assert.equal(claims.exp - claims.iat, LIFETIME);
    const summary = firstOutputs.stages.value.c;
    assert.equal(summary.credential.kind, "token");
    assert.equal(summary.credential.expiresAt, new Date(claims.exp * 1000).toISOString());
    assert.equal(summary.credential.credentialId, `JTI=${claims.jti}`);
    const review = await whoAmI(first);
    assert.equal(review.status, 201);
    const info = review.body.status.userInfo;
    assert.equal(info.username, `system:serviceaccount:${NS}:${summary.serviceAccount}`);
    assert.deepEqual(info.extra["authentication.kubernetes.io/credential-id"], [
      `JTI=${claims.jti}`,
    ]);
    // The operator finds the credential ID on the binding object, next to the stack's resources.
    const bound = await admin.core.listNamespacedSecret({
      namespace: NS,
      labelSelector: "app.kubernetes.io/component=deployer",
    });
    const binding = bound.items.find(
      (s) => s.metadata?.annotations?.["scoped-cd.io/credential-id"] === `JTI=${claims.jti}`,
    );
    assert.ok(binding, "a binding Secret annotated with the token's credential ID");
    assert.equal(binding.type, "Opaque");
  });

  it("keeps the token out of the CLI's output and out of the state in plain text", async () => {
    assert.ok(!t.log.join("").includes(first.token), "the token appears in the CLI output");
    // The Automation API's export decrypts secrets into `plaintext` fields of their secret
    // envelopes: the token may appear only there (in the state file it is ciphertext).
    const state = await t.stack.exportStack();
    const paths = pathsContaining(state, first.token);
    assert.ok(paths.length > 0);
    assert.deepEqual(
      paths.filter((p) => !p.endsWith(".plaintext")),
      [],
      "the token appears in the state outside a secret",
    );
  });

  it("refuses what the token's holder could try to leave behind", async () => {
    const sas = (await admin.core.listNamespacedServiceAccount({ namespace: NS })).items.map(
      (s) => s.metadata!.name!,
    );
    assert.ok(sas.some((n) => n.startsWith("tiller-")));
    for (const sa of sas) {
      const res = await request(first, "POST", `/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        type: "kubernetes.io/service-account-token",
        metadata: {
          name: `persist-${sa}`,
          annotations: { "kubernetes.io/service-account.name": sa },
        },
      });
      report.push(`legacy token Secret for ${sa}: HTTP ${res.status} ${res.body?.message ?? ""}`);
      assert.ok([403, 422].includes(res.status), `a legacy token Secret for ${sa} was accepted`);
    }
    const tillerSa = sas.find((n) => n.startsWith("tiller-"))!;
    const asTiller = await request(first, "POST", `/apis/apps/v1/namespaces/${NS}/deployments`, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "persist-as-tiller" },
      spec: {
        selector: { matchLabels: { app: "persist" } },
        template: {
          metadata: { labels: { app: "persist" } },
          spec: {
            serviceAccountName: tillerSa,
            containers: [{ name: "c", image: "registry.example/persist:1" }],
          },
        },
      },
    });
    report.push(
      `Deployment running as ${tillerSa}: HTTP ${asTiller.status} ${asTiller.body?.message ?? ""}`,
    );
    assert.ok([403, 422].includes(asTiller.status), "a Deployment running as Tiller was accepted");
    const minted = await request(
      first,
      "POST",
      `/api/v1/namespaces/${NS}/serviceaccounts/${tillerSa}/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} },
    );
    report.push(
      `TokenRequest for ${tillerSa}: HTTP ${minted.status} ${minted.body?.message ?? ""}`,
    );
    assert.equal(minted.status, 403);
    // allowRbac: a new identity bound to the stage Role. Creating it is within the deployer's
    // rights; what matters is that it can obtain no credential (token Secret, TokenRequest).
    const sa = await request(first, "POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "persist" },
    });
    const rb = await request(
      first,
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "persist" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "scoped-deployer" },
        subjects: [{ kind: "ServiceAccount", name: "persist", namespace: NS }],
      },
    );
    report.push(
      `allowRbac: ServiceAccount persist HTTP ${sa.status}, RoleBinding HTTP ${rb.status}`,
    );
    const persistSecret = await request(first, "POST", `/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      type: "kubernetes.io/service-account-token",
      metadata: {
        name: "persist-token",
        annotations: { "kubernetes.io/service-account.name": "persist" },
      },
    });
    report.push(
      `allowRbac: legacy token Secret for persist: HTTP ${persistSecret.status} ${persistSecret.body?.message ?? ""}`,
    );
    assert.ok([403, 422].includes(persistSecret.status));
    const persistToken = await request(
      first,
      "POST",
      `/api/v1/namespaces/${NS}/serviceaccounts/persist/token`,
      { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: {} },
    );
    report.push(
      `allowRbac: TokenRequest for persist: HTTP ${persistToken.status} ${persistToken.body?.message ?? ""}`,
    );
    assert.equal(persistToken.status, 403);
  });

  it("lists with `scoped-cd audit --credential-id` exactly what the token's holder tried", async () => {
    const jti = `JTI=${(jwtClaims(first.token) as { jti: string }).jti}`;
    const log = path.join(
      process.env.SCOPED_CD_CLUSTER_STATE ?? path.join(REPO, ".local/cluster"),
      "logs",
      "audit.log",
    );
    const res = await runCli([
      "audit",
      ...["--log", log, "--credential-id", jti, "--namespace", NS, "--output", "json"],
    ]);
    assert.equal(res.code, 0, res.stderr);
    const writes = (JSON.parse(res.stdout) as { resource: string; name: string; code: number }[])
      .map((w) => `${w.resource}/${w.name} ${w.code >= 400 ? "refused" : "done"}`)
      .sort();
    const tiller = firstOutputs.stages.value.c.tiller.serviceAccount;
    const sas = (await admin.core.listNamespacedServiceAccount({ namespace: NS })).items
      .map((s) => s.metadata!.name!)
      .filter((n) => n !== "persist");
    assert.deepEqual(
      writes,
      [
        "deployments.apps/persist-as-tiller refused",
        "rolebindings.rbac.authorization.k8s.io/persist done",
        "serviceaccounts/persist done",
        "serviceaccounts/token/persist refused",
        `serviceaccounts/token/${tiller} refused`,
        ...sas.map((sa) => `secrets/persist-${sa} refused`),
        "secrets/persist-token refused",
      ].sort(),
    );
  });

  let second: Scoped;
  it("renews after the configured share of the lifetime and keeps the previous token valid", async () => {
    const claims = jwtClaims(first.token) as { iat: number };
    const renewAfter = 0.01; // 6 s of a 600 s lifetime
    const due = (claims.iat + Math.ceil(LIFETIME * renewAfter) + 1) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    t.setConfig(stackConfig("r1", renewAfter));
    const up = await t.stack.up({ onOutput: collect(t) });
    second = scopedFrom(up.outputs.kubeconfigs.value.c);
    assert.notEqual(second.token, first.token, "the renewal up minted no new token");
    assert.equal(
      up.outputs.stages.value.c.serviceAccount,
      firstOutputs.stages.value.c.serviceAccount,
    );
    assert.equal((await whoAmI(second)).status, 201);
    assert.equal((await whoAmI(first)).status, 201, "the previous token died at renewal");
  });

  it("revokes a token at once when its binding object is deleted", async () => {
    const bound = await admin.core.listNamespacedSecret({
      namespace: NS,
      labelSelector: "app.kubernetes.io/component=deployer",
    });
    const jti = `JTI=${(jwtClaims(first.token) as { jti: string }).jti}`;
    const binding = bound.items.find(
      (s) => s.metadata?.annotations?.["scoped-cd.io/credential-id"] === jti,
    )!;
    const t0 = Date.now();
    await admin.core.deleteNamespacedSecret({ name: binding.metadata!.name!, namespace: NS });
    const ms = await until401(first, t0, 30);
    report.push(`binding Secret deleted -> 401 after ${(ms / 1000).toFixed(1)} s`);
    assert.equal((await whoAmI(second)).status, 201, "the current token must survive");
  });

  it("revokes the previous token on a rotation up (time measured from the start of the up)", async () => {
    const oldTiller = (await admin.core.listNamespacedServiceAccount({ namespace: NS })).items
      .map((s) => s.metadata!.name!)
      .find((n) => n.startsWith("tiller-"))!;
    t.setConfig(stackConfig("r2", 0.9));
    const t0 = Date.now();
    const polling = until401(second, t0, 300);
    const up = await t.stack.up({ onOutput: collect(t) });
    const upSeconds = (Date.now() - t0) / 1000;
    const ms = await polling;
    report.push(
      `rotation: old token 401 ${(ms / 1000).toFixed(1)} s after the start of \`up\` (the up took ${upSeconds.toFixed(1)} s)`,
    );
    const third = scopedFrom(up.outputs.kubeconfigs.value.c);
    assert.equal((await whoAmI(third)).status, 201);
    assert.notEqual(
      up.outputs.stages.value.c.serviceAccount,
      firstOutputs.stages.value.c.serviceAccount,
    );
    const sas = (await admin.core.listNamespacedServiceAccount({ namespace: NS })).items.map(
      (s) => s.metadata!.name!,
    );
    assert.ok(!sas.includes(oldTiller), `Tiller's old identity ${oldTiller} survived the rotation`);
    report.push(`after rotation, ServiceAccounts in the namespace: ${sas.sort().join(", ")}`);
    // The allowRbac identity made with the old credential survives the rotation: verify reports it.
    const rows = await strayGrantsCheck.run({
      stack: t.name,
      stage: "c",
      summary: up.outputs.stages.value.c,
      kubeconfig: up.outputs.kubeconfigs.value.c,
      otherNamespace: "default",
    });
    report.push(`verify after rotation: ${rows.map((r) => r.description).join("; ")}`);
    assert.deepEqual(
      rows.map((r) => [r.description, r.ok]),
      [["RoleBinding persist grants Role scoped-deployer to ServiceAccount persist", false]],
    );
  });

  it("drift reports that identity beside a clean preview (exit 1), and is clean without it", async () => {
    const drift = () =>
      runCli([
        "drift",
        "--work-dir",
        t.workDir,
        "--stack",
        t.name,
        "--output",
        "json",
        "--out",
        reportFile,
      ]);
    const reportFile = path.join(t.workDir, "drift-report.md");
    const found = await drift();
    assert.equal(found.code, 1, found.stderr);
    const doc = JSON.parse(found.stdout);
    assert.deepEqual(doc.stacks[0].strayGrants, [
      `stage c (namespace ${NS}): RoleBinding persist grants Role scoped-deployer to ServiceAccount persist`,
    ]);
    assert.deepEqual(doc.stacks[0].planned, [], "the preview itself should be clean");
    assert.match(fs.readFileSync(reportFile, "utf8"), /### Identities outside the stack \(1\)/);
    // And the inventory lists what the old credential made: the account and its binding.
    const undeclared = (doc.stacks[0].undeclared as { kind: string; name: string }[]).map(
      (u) => `${u.kind} ${u.name}`,
    );
    assert.ok(undeclared.includes("ServiceAccount persist"), undeclared.join(", "));
    assert.ok(undeclared.includes("RoleBinding persist"), undeclared.join(", "));

    await admin.rbac.deleteNamespacedRoleBinding({ name: "persist", namespace: NS });
    await admin.core.deleteNamespacedServiceAccount({ name: "persist", namespace: NS });
    const clean = await drift();
    assert.equal(clean.code, 0, clean.stdout);
    assert.deepEqual(JSON.parse(clean.stdout).stacks[0].strayGrants, []);
  });
});
