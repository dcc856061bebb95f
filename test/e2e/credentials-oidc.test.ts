// Keyless OIDC on the real API server: a local test issuer (discovery and JWKS over HTTPS on
// loopback, with a CA generated here) issues ID tokens shaped like the Jenkins OpenID Connect
// Provider plugin's; the access stack's `authentication` output is written into the API server's
// --authentication-config file (hack/cluster.sh), which the API server reloads. The delivery
// stack then deploys with the build's ID token and no other credential.
import * as assert from "node:assert/strict";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as https from "node:https";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { ID_TOKEN_ENV } from "../../components/access/kubeconfig";
import { adminClients, ApiEndpoint, bearerRequest, whoAmI } from "./kube";
import {
  collect,
  createTestStack,
  execFileAsync,
  REPO,
  runCli,
  TestStack,
  uniqueSuffix,
  waitFor,
} from "./support";

const NS = `e2e-oidc-${uniqueSuffix()}`;
const STATE = process.env.SCOPED_CD_CLUSTER_STATE ?? path.join(REPO, ".local/cluster");
const AUTH_CONFIG = path.join(STATE, "authentication-config.yaml");
/** hack/cluster.sh's API server audit log (writes, Metadata level). */
const AUDIT_LOG = path.join(STATE, "logs", "audit.log");
/** How long the API server may take to reload the rewritten file and refuse a revoked token. */
const RELOAD_LIMIT_SECONDS = 150;
const note = (text: string) => console.log(`      [oidc] ${text}`);

/**
 * Rewrite the API server's AuthenticationConfiguration: drop this run's issuer, then let `change`
 * add entries. Other runs' issuers are kept (the file and the cluster are shared).
 */
function updateAuthConfig(change: (jwt: any[]) => any[]) {
  const current = (yaml.load(fs.readFileSync(AUTH_CONFIG, "utf8")) ?? {}) as { jwt?: any[] };
  const others = (current.jwt ?? []).filter((j) => j.issuer?.url !== issuerUrl);
  fs.writeFileSync(
    AUTH_CONFIG,
    yaml.dump({
      apiVersion: "apiserver.config.k8s.io/v1",
      kind: "AuthenticationConfiguration",
      jwt: change(others),
    }),
  );
}
let issuerUrl = "";
const AUDIENCE = "scoped-cd-e2e";
const JOB = "https://jenkins.example.test/job/shop/job/deploy/";

interface Issuer {
  url: string;
  caPem: string;
  sign(claims: Record<string, unknown>, key?: crypto.KeyObject): string;
  close(): void;
}

/** A CA and a loopback serving certificate, made with openssl. */
async function makeCertificates(dir: string) {
  const run = (...args: string[]) => execFileAsync("openssl", args, { cwd: dir });
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=scoped-cd-e2e-issuer-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "tls.key",
    "-out",
    "tls.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  fs.writeFileSync(
    path.join(dir, "ext"),
    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "tls.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    "ext",
    "-out",
    "tls.crt",
  );
  const read = (f: string) => fs.readFileSync(path.join(dir, f), "utf8");
  return { caPem: read("ca.crt"), cert: read("tls.crt"), key: read("tls.key") };
}

async function startIssuer(): Promise<Issuer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-issuer-"));
  const tls = await makeCertificates(dir);
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const kid = "e2e-1";
  const jwk = { ...publicKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" };
  let url = "";
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const body =
      req.url === "/oidc/.well-known/openid-configuration"
        ? { issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ["RS256"] }
        : req.url === "/oidc/jwks"
          ? { keys: [jwk] }
          : undefined;
    res.writeHead(body ? 200 : 404, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}/oidc`;
  return {
    url,
    caPem: tls.caPem,
    sign(claims, key = privateKey) {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
      const data = `${enc({ alg: "RS256", kid, typ: "JWT" })}.${enc(claims)}`;
      return `${data}.${crypto.sign("sha256", Buffer.from(data), key).toString("base64url")}`;
    },
    close: () => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Claims as the Jenkins OpenID Connect Provider plugin issues them (plus a branch claim). */
function jenkinsClaims(issuer: string, overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: issuer,
    aud: AUDIENCE,
    sub: JOB,
    build_number: 42,
    branch: "main",
    iat: now,
    nbf: now,
    exp: now + 3600,
    ...overrides,
  };
}

type Api = ApiEndpoint;
const request = bearerRequest;

describe("keyless OIDC deployer credential on the real API server", function () {
  this.timeout(10 * 60_000);
  let issuer: Issuer;
  let access: TestStack;
  let delivery: TestStack | undefined;
  let api: Api;
  let kubeconfig: string;

  before(async () => {
    issuer = await startIssuer();
    issuerUrl = issuer.url;
    access = await createTestStack("oidc-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: {
        c: {
          namespace: NS,
          deletable: true,
          deployer: {
            credential: {
              kind: "oidc",
              oidc: {
                issuer: issuer.url,
                audience: AUDIENCE,
                jobs: [JOB],
                branches: ["main"],
                certificateAuthority: issuer.caPem,
              },
            },
          },
        },
      },
    });
    const up = await access.stack.up({ onOutput: collect(access) });
    kubeconfig = up.outputs.kubeconfigs.value.c;
    const doc = yaml.load(kubeconfig) as any;
    api = {
      server: doc.clusters[0].cluster.server,
      ca: Buffer.from(doc.clusters[0].cluster["certificate-authority-data"], "base64"),
    };
    updateAuthConfig((jwt) => [...jwt, ...up.outputs.authentication.value.jwt]);
    const token = issuer.sign(jenkinsClaims(issuer.url));
    await waitFor("the API server to load the test issuer", 90, async () =>
      (await whoAmI(api, token)).status === 201 ? true : undefined,
    );
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      console.log(access?.log.join(""));
      console.log(delivery?.log.join(""));
    }
    // The revocation tests refused the stack's first token: the destroy runs as a fresh build.
    if (delivery && issuer) {
      (delivery.stack.workspace as LocalWorkspace).envVars[ID_TOKEN_ENV] = issuer.sign(
        jenkinsClaims(issuer.url, { build_number: 900 }),
      );
    }
    await delivery?.stack
      .destroy({ onOutput: collect(delivery) })
      .catch((e) => console.error(String(e)));
    await delivery?.remove().catch(() => undefined);
    // The delivery stack removes its release with the ID token: drop the issuer only after it.
    if (issuer) updateAuthConfig((jwt) => jwt);
    issuer?.close();
    await access?.stack
      .destroy({ onOutput: collect(access) })
      .catch((e) => console.error(String(e)));
    await access?.remove().catch(() => undefined);
  });

  it("exports a kubeconfig that holds no secret", () => {
    const user = (yaml.load(kubeconfig) as any).users[0].user;
    assert.deepEqual(Object.keys(user), ["exec"]);
  });

  it("names the job and the build in the API server's view of the user", async () => {
    const review = await whoAmI(api, issuer.sign(jenkinsClaims(issuer.url)));
    assert.equal(review.status, 201);
    const info = review.body.status.userInfo;
    assert.equal(info.username, `oidc:${JOB}#42`);
    assert.ok(info.groups.includes(`oidc:job:${JOB}`), JSON.stringify(info.groups));
  });

  const REFUSED: [string, (iss: string) => Record<string, unknown>, boolean?][] = [
    [
      "another job",
      (iss) => jenkinsClaims(iss, { sub: "https://jenkins.example.test/job/other/" }),
    ],
    ["another branch", (iss) => jenkinsClaims(iss, { branch: "feature-x" })],
    ["another audience", (iss) => jenkinsClaims(iss, { aud: "someone-else" })],
    ["an expired token", (iss) => jenkinsClaims(iss, { iat: 1000, nbf: 1000, exp: 2000 })],
    // It would outlast a revocation entry, which expires one configured lifetime after it.
    [
      "a token living longer than oidc.tokenLifetimeSeconds",
      (iss) => jenkinsClaims(iss, { exp: Math.floor(Date.now() / 1000) + 7200 }),
    ],
    ["a token signed by an unknown key", (iss) => jenkinsClaims(iss), true],
  ];
  for (const [what, claims, foreignKey] of REFUSED) {
    it(`refuses ${what} with 401`, async () => {
      const key = foreignKey
        ? crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey
        : undefined;
      const res = await whoAmI(api, issuer.sign(claims(issuer.url), key));
      assert.equal(res.status, 401);
    });
  }

  it("forbids the OIDC user outside its namespace", async () => {
    const token = issuer.sign(jenkinsClaims(issuer.url));
    const inside = await request(api, token, "GET", `/api/v1/namespaces/${NS}/configmaps`);
    assert.equal(inside.status, 200);
    for (const ns of ["kube-system", "default"]) {
      const outside = await request(api, token, "GET", `/api/v1/namespaces/${ns}/configmaps`);
      assert.equal(outside.status, 403, `${ns}: ${JSON.stringify(outside.body)}`);
    }
  });

  it("deploys a release through a delivery stack with the ID token as its only credential", async () => {
    const token = issuer.sign(jenkinsClaims(issuer.url));
    delivery = await createTestStack("oidc-delivery", {
      [ID_TOKEN_ENV]: token,
      KUBECONFIG: path.join(os.tmpdir(), "scoped-cd-no-such-kubeconfig"),
    });
    delivery.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      stages: {
        c: {
          namespace: NS,
          releases: { storefront: { chart: "./charts/storefront", timeoutSeconds: 120 } },
        },
      },
    });
    await delivery.stack.setConfig("scoped-cd:kubeconfig", { value: kubeconfig, secret: true });
    const up = await delivery.stack.up({ onOutput: collect(delivery) });
    assert.equal(up.outputs.stages.value.c.releases.storefront.status, "deployed");
    assert.ok(!delivery.log.join("").includes(token), "the ID token appears in the CLI output");
  });

  it("lists with `scoped-cd audit` exactly the objects build 42's deploy wrote", async () => {
    const writes = await auditOf(`${JOB}#42`);
    assert.ok(writes.length > 0, "no write of build 42 in the audit log");
    assert.deepEqual(writtenObjects(writes), await releaseObjects());
    assert.ok(
      writes.every((w) => w.code !== null && w.code < 300),
      JSON.stringify(writes.filter((w) => (w.code ?? 0) >= 300)),
    );
    // Another build's write in the same namespace is its own, not build 42's.
    const other = issuer.sign(jenkinsClaims(issuer.url, { build_number: 43 }));
    const res = await request(api, other, "POST", `/api/v1/namespaces/${NS}/configmaps`, {
      metadata: { name: "written-by-43" },
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    // (Removed again: verify and drift below would report it as an undeclared object.)
    const removed = await request(
      api,
      other,
      "DELETE",
      `/api/v1/namespaces/${NS}/configmaps/written-by-43`,
    );
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    assert.deepEqual(writtenObjects(await auditOf(`${JOB}#43`)), ["configmaps/written-by-43"]);
    assert.deepEqual(writtenObjects(await auditOf(`${JOB}#42`)), writtenObjects(writes));
  });

  it("verifies the stage with the CLI, the secret-free kubeconfig file and the ID token only", async () => {
    const token = issuer.sign(jenkinsClaims(issuer.url));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-oidc-kc-"));
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    const result = await runCli(
      [
        "verify",
        "--stack",
        delivery!.name,
        "--work-dir",
        delivery!.workDir,
        "--kubeconfig-file",
        `${delivery!.name}=${file}`,
      ],
      { [ID_TOKEN_ENV]: token, KUBECONFIG: undefined },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    assert.ok(!`${result.stdout}${result.stderr}`.includes(token), "the ID token was printed");
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  });

  it("deploys and reports drift with the CLI, the secret-free kubeconfig file and the ID token only", async () => {
    const token = issuer.sign(jenkinsClaims(issuer.url));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-oidc-kc-"));
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    const common = ["--stack", delivery!.name, "--work-dir", delivery!.workDir];
    const kubeconfigFile = ["--kubeconfig-file", `${delivery!.name}=${file}`];
    const env = { [ID_TOKEN_ENV]: token, KUBECONFIG: undefined };
    try {
      const deploy = await runCli(["deploy", ...common, ...kubeconfigFile], env);
      assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
      const out = path.join(dir, "drift-report.md");
      const drift = await runCli(
        ["drift", ...common, ...kubeconfigFile, "--output", "json", "--out", out],
        env,
      );
      assert.equal(drift.code, 0, `${drift.stdout}\n${drift.stderr}`);
      const analysis = JSON.parse(drift.stdout).stacks[0];
      assert.ok(analysis.resources > 0, "the drift report saw no resources");
      assert.deepEqual(analysis.strayGrants, []);
      for (const r of [deploy, drift])
        assert.ok(!`${r.stdout}${r.stderr}`.includes(token), "the ID token was printed");

      // The same commands without the ID token fail, naming the missing token (exit 2).
      const without = await runCli(["drift", ...common, ...kubeconfigFile, "--out", out], {
        ...env,
        [ID_TOKEN_ENV]: undefined,
      });
      assert.equal(without.code, 2, `${without.stdout}\n${without.stderr}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // -------------------------------------------------------------------------------------------
  // Per-build revocation on the real API server: `scoped-cd revoke`, `up` of the access stack,
  // its `authentication` output written into the API server's file, then poll until refused.

  const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
    runCli([...args, "--work-dir", access.workDir], env);

  /** Revoke, `up` the access stack, install its output; the seconds until `refused` gets 401. */
  async function revokeAndReload(args: string[], refused: string): Promise<string> {
    const revoke = await cli(["revoke", "--stack", access.name, "--stage", "c", ...args]);
    assert.equal(revoke.code, 0, `${revoke.stdout}\n${revoke.stderr}`);
    const up = await access.stack.up({ onOutput: collect(access) });
    updateAuthConfig((jwt) => [...jwt, ...up.outputs.authentication.value.jwt]);
    const t0 = Date.now();
    for (;;) {
      const res = await whoAmI(api, refused);
      if (res.status === 401) break;
      assert.equal(res.status, 201, JSON.stringify(res.body));
      if (Date.now() - t0 > RELOAD_LIMIT_SECONDS * 1000) {
        assert.fail(
          `the revoked token still authenticates ${RELOAD_LIMIT_SECONDS}s after the rewrite`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    note(`revoke ${args.join(" ")}: 401 ${seconds}s after the authentication config was rewritten`);
    return revoke.stdout;
  }

  async function deployAs(token: string, greeting: string) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-oidc-kc-"));
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(file, kubeconfig, { mode: 0o600 });
    delivery!.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      stages: {
        c: {
          namespace: NS,
          releases: {
            storefront: {
              chart: "./charts/storefront",
              timeoutSeconds: 120,
              values: { greeting },
            },
          },
        },
      },
    });
    // (setConfig replaces the whole config: the destroy in `after` needs the kubeconfig back.)
    await delivery!.stack.setConfig("scoped-cd:kubeconfig", { value: kubeconfig, secret: true });
    try {
      return await runCli(
        [
          "deploy",
          "--stack",
          delivery!.name,
          "--work-dir",
          delivery!.workDir,
          "--kubeconfig-file",
          `${delivery!.name}=${file}`,
        ],
        { [ID_TOKEN_ENV]: token, KUBECONFIG: undefined },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  const t = () => Math.floor(Date.now() / 1000);
  let revoked: string;
  let kept: string;

  it("refuses one revoked build's tokens after the reload; another build still deploys", async () => {
    revoked = issuer.sign(jenkinsClaims(issuer.url, { build_number: 100 }));
    kept = issuer.sign(jenkinsClaims(issuer.url, { build_number: 101 }));
    for (const token of [revoked, kept]) assert.equal((await whoAmI(api, token)).status, 201);

    await revokeAndReload(["--build", `${JOB}#100`], revoked);
    // Every path: another request, a token the build mints after the revocation, the group's grant.
    const fresh = issuer.sign(jenkinsClaims(issuer.url, { build_number: 100, iat: t(), nbf: t() }));
    for (const token of [revoked, fresh]) {
      const res = await request(api, token, "GET", `/api/v1/namespaces/${NS}/configmaps`);
      assert.equal(res.status, 401, JSON.stringify(res.body));
    }
    const refused = await deployAs(revoked, "from a revoked build");
    assert.equal(refused.code, 2, `${refused.stdout}\n${refused.stderr}`);

    const deploy = await deployAs(kept, "from build 101");
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
    // The summary names the identity and the one command that lists its writes.
    assert.ok(
      deploy.stdout.includes(`deployed as oidc:${JOB}#101`) &&
        deploy.stdout.includes(`--build '${JOB}#101' --namespace ${NS}`),
      deploy.stdout,
    );
    for (const r of [refused, deploy]) {
      for (const token of [revoked, kept])
        assert.ok(!`${r.stdout}${r.stderr}`.includes(token), "an ID token was printed");
    }
  });

  it("attributes build 101's upgrade to build 101 only in the audit log", async () => {
    const by101 = writtenObjects(await auditOf(`${JOB}#101`));
    const by42 = writtenObjects(await auditOf(`${JOB}#42`));
    const revision = by101.filter((o) => o.startsWith("secrets/sh.helm.release.v1.storefront.v"));
    assert.ok(
      revision.some((o) => !by42.includes(o)),
      `build 101's upgrade stored no revision of its own: ${by101.join(", ")}`,
    );
    const release = await releaseObjects();
    assert.deepEqual(
      by101.filter((o) => !release.includes(o)),
      [],
      "build 101 wrote outside its release",
    );
    assert.deepEqual(await auditOf(`${JOB}#100`), [], "the revoked build wrote something");
  });

  it("refuses every earlier token with --issued-before and drops expired entries", async () => {
    // An entry whose lifetime is over: the revoke below drops it from the config.
    await access.stack.setAllConfig(
      {
        "scoped-cd:stages.c.deployer.credential.oidc.revoked[1].issuedBefore": {
          value: "2026-01-01T00:00:00Z",
        },
      },
      true,
    );
    const before = t() - 30;
    // (Its lifetime is the configured one: a longer-lived token is refused on its own.)
    const iat = before - 30;
    const earlier = issuer.sign(
      jenkinsClaims(issuer.url, { build_number: 102, iat, nbf: iat, exp: iat + 3600 }),
    );
    const later = issuer.sign(jenkinsClaims(issuer.url, { build_number: 103 }));
    for (const token of [earlier, later]) assert.equal((await whoAmI(api, token)).status, 201);
    const out = await revokeAndReload(
      ["--issued-before", new Date(before * 1000).toISOString()],
      earlier,
    );
    assert.match(out, /2 in force, 1 expired dropped/);
    // Build 101's token was issued before too; a token issued after the time still works.
    assert.equal((await whoAmI(api, kept)).status, 401);
    assert.equal((await whoAmI(api, later)).status, 201);
    const stages = (await access.stack.getConfig("scoped-cd:stages")).value;
    assert.ok(!stages.includes("2026-01-01"), stages);

    // An entry that expires between two ups leaves the authenticator at the next up.
    await access.stack.setAllConfig(
      {
        "scoped-cd:stages.c.deployer.credential.oidc.revoked[2].build": { value: `${JOB}#103` },
        "scoped-cd:stages.c.deployer.credential.oidc.revoked[2].at": {
          value: "2026-01-01T00:00:00Z",
        },
      },
      true,
    );
    const up = await access.stack.up({ onOutput: collect(access) });
    const ours = up.outputs.authentication.value.jwt.find((j: any) => j.issuer.url === issuer.url);
    const rules: string[] = ours.claimValidationRules.map(
      (r: { expression: string }) => r.expression,
    );
    assert.ok(!rules.some((e) => e.includes(`== "103"`)), "the expired entry is still compiled");
    assert.ok(
      rules.some((e) => e.includes(`== "100"`)),
      "the entry in force is gone",
    );
    updateAuthConfig((jwt) => [...jwt, ...up.outputs.authentication.value.jwt]);
    assert.equal((await whoAmI(api, later)).status, 201);
  });
});

interface Write {
  resource: string;
  name: string | null;
  code: number | null;
}

/** `scoped-cd audit --output json` of one build in the test namespace. */
async function auditOf(build: string): Promise<Write[]> {
  const res = await runCli([
    "audit",
    "--log",
    AUDIT_LOG,
    "--build",
    build,
    "--namespace",
    NS,
    "--output",
    "json",
  ]);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as Write[];
}

const writtenObjects = (writes: Write[]) =>
  [...new Set(writes.map((w) => `${w.resource}/${w.name}`))].sort();

/** What the release consists of, as the admin reads it: the chart's objects and Helm's storage. */
async function releaseObjects(): Promise<string[]> {
  const admin = await adminClients();
  const helm = { labelSelector: "app.kubernetes.io/instance=storefront", namespace: NS };
  const out = [
    ...(await admin.core.listNamespacedConfigMap(helm)).items.map(
      (o) => `configmaps/${o.metadata!.name}`,
    ),
    ...(await admin.core.listNamespacedService(helm)).items.map(
      (o) => `services/${o.metadata!.name}`,
    ),
    ...(await admin.apps.listNamespacedDeployment(helm)).items.map(
      (o) => `deployments.apps/${o.metadata!.name}`,
    ),
    ...(
      await admin.core.listNamespacedSecret({ namespace: NS, labelSelector: "owner=helm" })
    ).items.map((o) => `secrets/${o.metadata!.name}`),
  ];
  return out.sort();
}
