// The external credential kind on the real API server: hack/cluster.sh's static token file
// (--token-auth-file) stands in for a managed cluster's authenticator (EKS access entries, GKE,
// AKS), mapping a bearer token to a user and groups. An exec plugin (a tiny script that reads a
// file the agent's environment names) hands the token to every client; the kubeconfig holds no
// secret. A deploy through it works, the identity is refused outside its namespace and by the
// guardrails, and `verify` fails when the cluster maps the token to someone else.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { ApiEndpoint, bearerRequest } from "./kube";
import { collect, createTestStack, REPO, runCli, TestStack, uniqueSuffix } from "./support";

const NS = `e2e-ext-${uniqueSuffix()}`;
const STATE = process.env.SCOPED_CD_CLUSTER_STATE ?? path.join(REPO, ".local/cluster");
const USER = "scoped-cd-e2e:ci-deployer";
const GROUP = "scoped-cd-e2e:ci";
const TOKEN_FILE_ENV = "E2E_EXTERNAL_TOKEN_FILE";
const qualified = (stack: string) => `organization/scoped-cd/${stack}`;

/** The static tokens hack/cluster.sh wrote: token -> user (rows `token,user,uid,"groups"`). */
function staticTokens(): Map<string, string> {
  const rows = fs.readFileSync(path.join(STATE, "static-tokens.csv"), "utf8").trim().split("\n");
  return new Map(rows.map((r) => [r.split(",")[1], r.split(",")[0]]));
}

describe("external credential kind: an identity the cluster's authenticator maps", function () {
  this.timeout(10 * 60_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-external-"));
  const plugin = path.join(dir, "get-token");
  const mine = path.join(dir, "token-mine");
  const theirs = path.join(dir, "token-theirs");
  const kubeconfigFile = path.join(dir, "kubeconfig");
  let tokens: Map<string, string>;
  let access: TestStack;
  let delivery: TestStack;
  let kubeconfig: string;
  let api: ApiEndpoint;

  before(async () => {
    tokens = staticTokens();
    fs.writeFileSync(mine, tokens.get(USER)!, { mode: 0o600 });
    fs.writeFileSync(theirs, tokens.get("scoped-cd-e2e:someone-else")!, { mode: 0o600 });
    // What a cloud's plugin does: get a token from the agent's environment, print an ExecCredential.
    fs.writeFileSync(
      plugin,
      `#!/bin/sh\nset -e\n[ -n "$${TOKEN_FILE_ENV}" ] || { echo "${TOKEN_FILE_ENV} is not set" >&2; exit 1; }\n` +
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat "$${TOKEN_FILE_ENV}")"\n`,
      { mode: 0o700 },
    );
    access = await createTestStack("ext-access");
    access.setConfig({
      mode: "access",
      cluster: { name: "local" },
      stages: {
        x: {
          namespace: NS,
          deletable: true,
          deployer: {
            credential: {
              kind: "external",
              external: {
                user: USER,
                groups: [GROUP],
                exec: { command: plugin, env: [TOKEN_FILE_ENV] },
              },
            },
          },
        },
      },
    });
    const up = await access.stack.up({ onOutput: collect(access) });
    kubeconfig = up.outputs.kubeconfigs.value.x;
    fs.writeFileSync(kubeconfigFile, kubeconfig, { mode: 0o600 });
    const doc = yaml.load(kubeconfig) as any;
    api = {
      server: doc.clusters[0].cluster.server,
      ca: Buffer.from(doc.clusters[0].cluster["certificate-authority-data"], "base64"),
    };
    delivery = await createTestStack("ext-delivery", {
      KUBECONFIG: path.join(dir, "no-admin-kubeconfig"),
      [TOKEN_FILE_ENV]: mine,
    });
    delivery.setConfig({
      mode: "delivery",
      cluster: { name: "local" },
      accessStack: qualified(access.name),
      stages: {
        x: {
          namespace: NS,
          releases: { storefront: { chart: "./charts/storefront", timeoutSeconds: 120 } },
        },
      },
    });
  });

  after(async function () {
    if (process.env.E2E_VERBOSE || this.currentTest?.state === "failed") {
      console.log(access?.log.join(""));
      console.log(delivery?.log.join(""));
    }
    await delivery?.stack
      .destroy({ onOutput: collect(delivery) })
      .catch((e) => console.error(String(e)));
    await delivery?.remove().catch(() => undefined);
    await access?.stack
      .destroy({ onOutput: collect(access) })
      .catch((e) => console.error(String(e)));
    await access?.remove().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cli = (args: string[], tokenFile: string) =>
    runCli([...args, "--stack", delivery.name, "--work-dir", delivery.workDir], {
      KUBECONFIG: undefined,
      [TOKEN_FILE_ENV]: tokenFile,
    }).then((r) => {
      for (const t of tokens.values())
        assert.ok(!`${r.stdout}${r.stderr}`.includes(t), "a token was printed");
      return r;
    });
  const kubeconfigArg = () => ["--kubeconfig-file", `${delivery.name}=${kubeconfigFile}`];

  it("exports a kubeconfig with the operator's exec plugin and no secret", () => {
    const user = (yaml.load(kubeconfig) as any).users[0].user;
    assert.deepEqual(Object.keys(user), ["exec"]);
    assert.equal(user.exec.command, plugin);
    assert.equal(user.exec.env, null);
    for (const t of tokens.values()) assert.ok(!kubeconfig.includes(t), "a token is in it");
  });

  it("deploys through the exported kubeconfig, naming the identity", async () => {
    const deploy = await cli(["deploy", ...kubeconfigArg()], mine);
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
    assert.match(deploy.stdout, new RegExp(`deployed as ${USER}`));
    const out = await delivery.stack.outputs();
    assert.equal(out.stages.value.x.releases.storefront.status, "deployed");
  });

  it("is refused outside its namespace, and the other mapped identity inside it", async () => {
    const token = tokens.get(USER)!;
    const list = (t: string, ns: string) =>
      bearerRequest(api, t, "GET", `/api/v1/namespaces/${ns}/configmaps`);
    assert.equal((await list(token, NS)).status, 200);
    for (const ns of ["kube-system", "default"]) {
      const res = await list(token, ns);
      assert.equal(res.status, 403, `${ns}: ${JSON.stringify(res.body)}`);
    }
    // Same shared group (scoped-cd-e2e:all) but neither the bound user nor the bound group.
    const other = await list(tokens.get("scoped-cd-e2e:someone-else")!, NS);
    assert.equal(other.status, 403, JSON.stringify(other.body));
  });

  it("is a CI requester to the guardrails: no object may pass as the access layer's", async () => {
    const res = await bearerRequest(
      api,
      tokens.get(USER)!,
      "POST",
      `/api/v1/namespaces/${NS}/configmaps`,
      {
        metadata: {
          name: "posing-as-access",
          labels: { "app.kubernetes.io/managed-by": "scoped-cd" },
        },
      },
    );
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.match(JSON.stringify(res.body), /scoped-cd guardrail/);
  });

  it("verifies the identity in use, and fails when the cluster maps the token to someone else", async () => {
    // On the access stack: its `stages` output names the bound user and group (a delivery stack
    // run with a handed-over kubeconfig file does not know them).
    const verify = (tokenFile: string) =>
      runCli(["verify", "--stack", access.name, "--stage", "x", "--work-dir", access.workDir], {
        KUBECONFIG: undefined,
        [TOKEN_FILE_ENV]: tokenFile,
      });
    const ok = await verify(mine);
    assert.match(
      ok.stdout,
      new RegExp(`ok .* the kubeconfig authenticates as user ${USER}, group ${GROUP}`),
    );
    const wrong = await verify(theirs);
    assert.equal(wrong.code, 2, `${wrong.stdout}\n${wrong.stderr}`);
    assert.match(
      `${wrong.stdout}${wrong.stderr}`,
      /the API server says user scoped-cd-e2e:someone-else, not scoped-cd-e2e:ci-deployer/,
    );
    for (const r of [ok, wrong])
      for (const t of tokens.values())
        assert.ok(!`${r.stdout}${r.stderr}`.includes(t), "a token was printed");
  });
});
