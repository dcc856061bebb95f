// The classification of credential and connection failures (cli/lib/credentialProblems.ts) on the
// messages the real tools print, the remedies it names, and what `deploy` does with what an
// interrupted deploy leaves behind (cli/lib/interruptedDeploy.ts): lock files, pending operations,
// a Helm revision left pending.
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deployFailure } from "../../cli/commands/deploy";
import {
  credentialProblemOf,
  credentialProblemOfError,
  deliveryCredentialHint,
  describeScopedProblem,
  ScopedCredentialContext,
  serverNamed,
} from "../../cli/lib/credentialProblems";
import {
  backendLockMessage,
  decodeHelmRelease,
  describeLocks,
  describePendingCreates,
  encodeHelmRelease,
  fileBackendDir,
  markedFailed,
  newestRevision,
  pendingOperationsOf,
  pidRunning,
  stackLocks,
} from "../../cli/lib/interruptedDeploy";

const fileCtx: ScopedCredentialContext = {
  stack: "test",
  stages: ["test"],
  accessStack: "test-access",
  source: "file",
};

describe("credential problems", () => {
  it("classifies 401s as the tools word them, Helm's 'unreachable' 401 included", () => {
    for (const text of [
      "error: Kubernetes cluster unreachable: the server has asked for the client to provide credentials",
      "configured Kubernetes cluster is unreachable: unable to load schema information from the API server: the server has asked for the client to provide credentials",
      "error: You must be logged in to the server (Unauthorized)",
      "HTTP-Code: 401\nMessage: Unknown API Status Code!",
    ]) {
      assert.equal(credentialProblemOf(text)?.kind, "unauthorized", text);
    }
  });

  it("classifies a 403 naming the identity, an untrusted server and an unreachable one", () => {
    const forbidden = credentialProblemOf(
      'error: secrets is forbidden: User "system:serviceaccount:shop-test:deployer-abc" cannot list resource "secrets" in API group "" in the namespace "shop-test"',
    );
    assert.equal(forbidden?.kind, "forbidden");
    assert.match(forbidden!.evidence, /deployer-abc/);
    assert.equal(
      credentialProblemOf(
        "tls: failed to verify certificate: x509: certificate signed by unknown authority",
      )?.kind,
      "untrusted",
    );
    const down = credentialProblemOf(
      'error: Kubernetes cluster unreachable: Get "https://127.0.0.1:16543/version": dial tcp 127.0.0.1:16543: connect: connection refused',
    );
    assert.equal(down?.kind, "unreachable");
    assert.equal(down?.server, "https://127.0.0.1:16543");
    assert.equal(serverNamed("dial tcp 10.0.0.1:6443: i/o timeout"), "10.0.0.1:6443");
    // The provider's refresh says this for a refused credential too: drift probes to tell them apart.
    assert.equal(
      credentialProblemOf(
        "error: Preview failed: failed to read resource state due to unreachable cluster. If the cluster was deleted, ...",
      )?.kind,
      "unreachable",
    );
  });

  it("leaves other failures alone, and never quotes a token", () => {
    assert.equal(credentialProblemOf("error: values: must be a map"), undefined);
    assert.equal(credentialProblemOf("release storefront failed: timed out waiting"), undefined);
    const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const p = credentialProblemOf(`Unauthorized: Authorization: Bearer ${jwt}`);
    assert.equal(p?.kind, "unauthorized");
    assert.ok(!p!.evidence.includes(jwt), p!.evidence);
    assert.ok(!p!.evidence.includes("c2lnbmF0dXJl"));
  });

  it("classifies client-node errors by their HTTP status", () => {
    assert.equal(
      credentialProblemOfError({ code: 401, message: "HTTP-Code: 401" })?.kind,
      "unauthorized",
    );
    const f = credentialProblemOfError({
      code: 403,
      body: '{"kind":"Status","message":"namespaces is forbidden: User \\"x\\" cannot list"}',
    });
    assert.equal(f?.kind, "forbidden");
    assert.match(f!.evidence, /namespaces is forbidden/);
    assert.equal(
      credentialProblemOfError(
        Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:16543"), { code: "ECONNREFUSED" }),
      )?.kind,
      "unreachable",
    );
  });

  it("names the hand-over step: handoff of the access stack and the Jenkins credential", () => {
    const p = credentialProblemOf("the server has asked for the client to provide credentials")!;
    const message = describeScopedProblem({ ...p, server: "https://api:6443" }, fileCtx);
    assert.match(
      message,
      /^the API server at https:\/\/api:6443 refused the scoped kubeconfig of stack test \(stage test\): 401 Unauthorized/,
    );
    assert.match(message, /rotated away, revoked or has expired/);
    assert.match(message, /`scoped-cd handoff --stack test-access --stage test`/);
    assert.match(message, /Jenkins credential scoped-cd-kubeconfig-test/);
    const fromOutput = describeScopedProblem(p, {
      ...fileCtx,
      source: "access-stack",
      accessStack: undefined,
      stages: ["a", "b"],
    });
    assert.match(fromOutput, /`scoped-cd handoff --stack <env>-access --stage <stage>`/);
    assert.doesNotMatch(fromOutput, /Jenkins credential/);
    const down = describeScopedProblem(
      credentialProblemOf("dial tcp 127.0.0.1:1: connect: connection refused")!,
      fileCtx,
    );
    assert.match(down, /^could not reach the API server at 127\.0\.0\.1:1 /);
    assert.doesNotMatch(down, /handoff/);
  });

  it("explains a failed up: lock, stuck Helm release, credential, or as it was", () => {
    const args = { stack: "test", workDir: "/w" };
    const locked = deployFailure(
      args,
      fileCtx,
      `error: ${backendLockMessage(1)} (pulumi exit code -2)`,
    );
    assert.match(locked, /this one changed nothing/);
    assert.match(locked, /pulumi cancel --stack test --yes/);
    assert.match(
      deployFailure(
        args,
        fileCtx,
        "error: another operation (install/upgrade/rollback) is in progress",
      ),
      /left pending by an interrupted deploy/,
    );
    assert.match(
      deployFailure(
        args,
        fileCtx,
        "error: the server has asked for the client to provide credentials",
      ),
      /scoped-cd handoff --stack test-access --stage test/,
    );
    assert.equal(
      deployFailure(args, fileCtx, "error: boom"),
      "pulumi up of stack test failed:\nerror: boom",
    );
  });
});

describe("drift's hint for a delivery stack", () => {
  it("names the stage and access stack from the stack file, only for delivery stacks", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-hint-"));
    try {
      const write = (stack: string, config: Record<string, unknown>) =>
        fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), JSON.stringify({ config }));
      write("test", {
        "scoped-cd:mode": "delivery",
        "scoped-cd:accessStack": "test-access",
        "scoped-cd:stages": { test: {} },
      });
      write("test-access", { "scoped-cd:mode": "access", "scoped-cd:stages": { test: {} } });
      const failure = "error: Unauthorized";
      assert.match(
        (await deliveryCredentialHint(failure, "test", dir, undefined)) ?? "",
        /scoped-cd handoff --stack test-access --stage test`.*then rerun/,
      );
      assert.equal(await deliveryCredentialHint(failure, "test-access", dir, undefined), undefined);
      assert.equal(await deliveryCredentialHint("error: boom", "test", dir, undefined), undefined);
      assert.match(
        (await deliveryCredentialHint(failure, "gone", dir, undefined)) ?? "none",
        /^none$/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("what an interrupted deploy leaves behind", () => {
  it("finds a file backend's lock files and says who holds them and what to run", () => {
    assert.equal(fileBackendDir("file:///work/.local/state"), "/work/.local/state");
    assert.equal(fileBackendDir("https://api.pulumi.com"), undefined);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-locks-"));
    try {
      assert.deepEqual(stackLocks(dir, "scoped-cd", "test"), []);
      const locks = path.join(dir, ".pulumi", "locks", "organization", "scoped-cd", "test");
      fs.mkdirSync(locks, { recursive: true });
      fs.writeFileSync(
        path.join(locks, "a.json"),
        JSON.stringify({
          pid: 4242,
          username: "jenkins",
          hostname: "agent-1",
          timestamp: "2026-11-25T09:00:00Z",
        }),
      );
      fs.writeFileSync(path.join(locks, "a.json.attrs"), "{}");
      const found = stackLocks(dir, "scoped-cd", "organization/scoped-cd/test");
      assert.equal(found.length, 1);
      assert.equal(found[0].pid, 4242);
      const dead = describeLocks(
        "test",
        "/w",
        found,
        "agent-1",
        () => false,
        new Date("2026-11-25T09:03:12Z"),
      );
      assert.match(dead, /^stack test: the stack is currently locked by 1 lock\(s\)\. Either wait/);
      assert.match(
        dead,
        /pid 4242 on agent-1 \(user jenkins\) since 2026-11-25T09:00:00Z \(held 3m12s\): no such process here any more/,
      );
      assert.match(dead, /Nothing was changed/);
      assert.match(dead, /\(cd \/w && pulumi cancel --stack test --yes\)/);
      assert.match(
        describeLocks("test", "/w", found, "agent-1", () => true),
        /still running here; wait for it\nNothing was changed\. Another deploy of test is running on this machine: let it finish/,
      );
      assert.doesNotMatch(
        describeLocks("test", "/w", found, "agent-1", () => true),
        /pulumi cancel --stack/,
      );
      assert.match(
        describeLocks("test", "/w", found, "agent-2", () => false),
        /on another machine/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads pending operations from a stack export and names the refresh for creates", () => {
    const ops = pendingOperationsOf({
      deployment: {
        pending_operations: [
          {
            type: "updating",
            resource: { urn: "urn:a", type: "kubernetes:helm.sh/v3:Release", id: "ns/web" },
          },
          { type: "creating", resource: { urn: "urn:b", type: "kubernetes:helm.sh/v3:Release" } },
        ],
      },
    });
    assert.deepEqual(
      ops.map((o) => [o.type, o.urn, o.id]),
      [
        ["updating", "urn:a", "ns/web"],
        ["creating", "urn:b", undefined],
      ],
    );
    assert.deepEqual(pendingOperationsOf({ deployment: {} }), []);
    const message = describePendingCreates("test", "/w", [ops[1]]);
    assert.match(message, /creating: urn:b/);
    assert.match(message, /pulumi refresh --stack test --clear-pending-creates --yes/);
    assert.match(message, /--import-pending-creates <urn> <id>/);
  });

  it("finds the newest Helm revision and marks a pending one failed, readable by Helm again", async () => {
    const secret = (v: number, status: string) => ({
      metadata: {
        name: `sh.helm.release.v1.web.v${v}`,
        namespace: "ns",
        labels: { owner: "helm", name: "web", status, version: String(v) },
        creationTimestamp: "2026-11-25T09:00:00Z",
      },
    });
    const newest = newestRevision([
      secret(1, "superseded"),
      secret(3, "pending-upgrade"),
      secret(2, "deployed"),
    ]);
    assert.equal(newest?.revision, 3);
    assert.equal(newest?.status, "pending-upgrade");
    assert.equal(newest?.secretName, "sh.helm.release.v1.web.v3");
    assert.equal(newestRevision([]), undefined);

    const release = {
      name: "web",
      version: 3,
      info: { status: "pending-upgrade", description: "Upgrade" },
      manifest: "x",
    };
    const stored = await encodeHelmRelease(release);
    assert.deepEqual(await decodeHelmRelease(stored), release);
    const failed = markedFailed(release, "interrupted", new Date("2026-11-25T10:00:00Z"));
    assert.equal(failed.info?.status, "failed");
    assert.equal(failed.info?.description, "interrupted");
    assert.equal(failed.manifest, "x");
    assert.equal(release.info.status, "pending-upgrade", "the input is not mutated");
  });

  it("counts a zombie (killed, not yet reaped) as not running, a live process as running", async () => {
    // `sleep 0` exits at once and its parent, exec'd into `sleep 3`, never reaps it: a zombie.
    const parent = spawn("sh", ["-c", "sleep 0 & echo $!; exec sleep 3"], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      const zombie = Number(
        await new Promise<string>((resolve) =>
          parent.stdout!.once("data", (d) => resolve(String(d))),
        ),
      );
      const state = () => fs.readFileSync(`/proc/${zombie}/stat`, "utf8").split(") ")[1]?.[0];
      for (let i = 0; i < 50 && state() !== "Z"; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(state(), "Z", "the test could not make a zombie");
      assert.equal(pidRunning(zombie), false);
      assert.equal(pidRunning(parent.pid!), true);
      assert.equal(pidRunning(process.pid), true);
    } finally {
      parent.kill("SIGKILL");
    }
  });
});
