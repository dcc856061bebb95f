// Reading an API server audit log for one build or credential ID, without a cluster.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { auditCommand, auditSelectorOf, auditWrites, CREDENTIAL_ID_KEY } from "../../policy/audit";
import { auditHint } from "../../cli/commands/deploy";
import { run } from "../../cli/program";

const JOB = "https://jenkins.example.com/job/shop/job/deploy/";
const event = (o: Record<string, unknown>) =>
  JSON.stringify({
    kind: "Event",
    apiVersion: "audit.k8s.io/v1",
    stage: "ResponseComplete",
    requestReceivedTimestamp: "2026-12-02T13:00:00.000000Z",
    responseStatus: { code: 201 },
    ...o,
  });
const build = (n: number) => ({ username: `oidc:${JOB}#${n}` });
const LOG = [
  event({
    verb: "create",
    user: build(7),
    objectRef: { resource: "configmaps", namespace: "shop-dev", name: "a" },
  }),
  event({
    verb: "get",
    user: build(7),
    objectRef: { resource: "configmaps", namespace: "shop-dev", name: "a" },
  }),
  event({
    stage: "RequestReceived",
    verb: "create",
    user: build(7),
    objectRef: { resource: "secrets", namespace: "shop-dev" },
  }),
  event({
    verb: "patch",
    user: build(8),
    objectRef: { resource: "configmaps", namespace: "shop-dev", name: "b" },
  }),
  event({
    verb: "delete",
    user: {
      username: "system:serviceaccount:shop-dev:deployer-x",
      extra: { [CREDENTIAL_ID_KEY]: ["JTI=1"] },
    },
    objectRef: { resource: "deployments", apiGroup: "apps", namespace: "shop-dev", name: "web" },
    responseStatus: { code: 200 },
  }),
  "not json",
];

describe("audit", () => {
  it("lists a build's writes only (no reads, one event per request, no other build)", () => {
    assert.deepEqual(auditWrites(LOG, { build: `${JOB}#7` }), [
      {
        time: "2026-12-02T13:00:00.000000Z",
        verb: "create",
        resource: "configmaps",
        namespace: "shop-dev",
        name: "a",
        code: 201,
      },
    ]);
  });

  it("lists a credential ID's writes, with the API group", () => {
    assert.deepEqual(
      auditWrites(LOG, { credentialId: "JTI=1" }).map(
        (w) => `${w.verb} ${w.resource} ${w.name} ${w.code}`,
      ),
      ["delete deployments.apps web 200"],
    );
  });

  it("bounds by namespace and time window", () => {
    assert.deepEqual(auditWrites(LOG, { build: `${JOB}#8`, namespace: "other" }), []);
    assert.deepEqual(
      auditWrites(LOG, { build: `${JOB}#8`, since: Date.parse("2026-12-02T13:00:01Z") }),
      [],
    );
    assert.equal(
      auditWrites(LOG, { build: `${JOB}#8`, until: Date.parse("2026-12-02T13:00:01Z") }).length,
      1,
    );
    assert.throws(() => auditWrites(LOG, {}), /name a build or a credential ID/);
  });
});

describe("scoped-cd audit", () => {
  it("prints a build's writes from a log file as JSON, and needs one identity", async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "audit-")), "audit.log");
    fs.writeFileSync(file, LOG.join("\n"));
    let out = "";
    let err = "";
    const io = { stdout: (t: string) => (out += t), stderr: (t: string) => (err += t) };
    assert.equal(
      await run(["audit", "--log", file, "--build", `${JOB}#8`, "--output", "json"], io),
      0,
    );
    assert.deepEqual(
      JSON.parse(out).map((w: { name: string }) => w.name),
      ["b"],
    );
    assert.equal(await run(["audit", "--log", file], io), 2);
    assert.match(err, /scoped-cd audit: give one of --build <job>#<n> or --credential-id <id>/);
  });
});

describe("the identity a deploy names for audit", () => {
  it("finds an OIDC build by its username and a ServiceAccount token by its credential ID", () => {
    assert.deepEqual(auditSelectorOf({ username: `oidc:${JOB}#412` }), { build: `${JOB}#412` });
    const sa = {
      username: "system:serviceaccount:shop-dev:deployer-abc",
      extra: { [CREDENTIAL_ID_KEY]: ["JTI=1234"] },
    };
    assert.deepEqual(auditSelectorOf(sa), { credentialId: "JTI=1234" });
    assert.equal(auditSelectorOf({ username: "someone" }), undefined);
    assert.equal(
      auditCommand(sa, "shop-dev"),
      "scoped-cd audit --log <the API server's audit log> --credential-id JTI=1234 --namespace shop-dev",
    );
  });

  it("prints one command per stage namespace after a deploy, the build quoted", () => {
    const target = { stages: { dev: { namespace: "shop-dev", releases: [] } } };
    assert.equal(
      auditHint({ username: `oidc:${JOB}#7` }, target),
      `deployed as oidc:${JOB}#7; its writes: scoped-cd audit --log <the API server's audit log> --build '${JOB}#7' --namespace shop-dev\n`,
    );
    assert.equal(auditHint(undefined, target), "");
  });
});
