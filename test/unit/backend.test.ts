// The state backend as the CLI sees it: kinds, the password masked in everything printed, the one
// line for an unreachable backend, and PostgreSQL lock rows read as the file backend's lock files.
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { deployFailure } from "../../cli/commands/deploy";
import { errorLine } from "../../cli/program";
import {
  backendKind,
  describeBackendFailure,
  displayUrl,
  maskBackendSecrets,
  passwordInUrlWarning,
} from "../../cli/lib/backend";
import {
  lockOfRow,
  lockPrefix,
  pgpassPassword,
  postgresConnectionString,
  postgresTable,
  removeLock,
} from "../../cli/lib/backendLocks";
import {
  describeLocks,
  lockAge,
  locksOfRefusal,
  stackLocks,
} from "../../cli/lib/interruptedDeploy";
import {
  currentScope,
  descendantsNamed,
  LockWitness,
  processStart,
  provenDead,
  readWitness,
  removeWitness,
  startedAt,
  witnessFile,
  writeWitness,
} from "../../cli/lib/lockWitness";

const PW = "s3cr%2Ft-Pw";
const URL_WITH_PW = `postgres://scoped_cd:${PW}@db.internal:5432/pulumi?sslmode=require`;

describe("the state backend", () => {
  it("tells the backend kinds apart by scheme", () => {
    assert.equal(backendKind("file:///var/state"), "file");
    assert.equal(backendKind("postgres://u@h/db"), "postgres");
    assert.equal(backendKind("postgresql://u@h/db"), "postgres");
    assert.equal(backendKind("s3://bucket"), "s3");
    assert.equal(backendKind("gs://bucket"), "gcs");
    assert.equal(backendKind("azblob://container"), "azblob");
    assert.equal(backendKind("https://api.pulumi.com"), "cloud");
    assert.equal(backendKind(undefined), "cloud");
  });

  it("masks the URL's password, decoded or not, and PGPASSWORD, in any text", () => {
    const env = { PULUMI_BACKEND_URL: URL_WITH_PW, PGPASSWORD: "other-secret" };
    const text =
      `error: unable to open state database "${URL_WITH_PW}": failed\n` +
      `decoded s3cr/t-Pw, env other-secret, another x://a:b@c/`;
    const masked = maskBackendSecrets(text, env);
    assert.ok(!masked.includes(PW) && !masked.includes("s3cr/t-Pw"), masked);
    assert.ok(!masked.includes("other-secret"), masked);
    assert.match(masked, /postgres:\/\/scoped_cd:\*\*\*\*@db\.internal:5432/);
    assert.match(masked, /x:\/\/a:\*\*\*\*@c\//);
    assert.equal(maskBackendSecrets("nothing here", {}), "nothing here");
  });

  it("masks every CLI error line, whatever produced it", () => {
    const saved = process.env.PULUMI_BACKEND_URL;
    process.env.PULUMI_BACKEND_URL = URL_WITH_PW;
    try {
      const line = errorLine("deploy", `could not run: ${URL_WITH_PW} s3cr/t-Pw`);
      assert.ok(!line.includes(PW) && !line.includes("s3cr/t-Pw"), line);
    } finally {
      if (saved === undefined) delete process.env.PULUMI_BACKEND_URL;
      else process.env.PULUMI_BACKEND_URL = saved;
    }
  });

  it("shows a URL without password or query, and warns when the URL carries a password", () => {
    assert.equal(displayUrl(URL_WITH_PW), "postgres://scoped_cd:****@db.internal:5432/pulumi");
    assert.match(
      passwordInUrlWarning(URL_WITH_PW)!,
      /^the backend URL postgres:\/\/scoped_cd:\*\*\*\*@db\.internal:5432\/pulumi carries a password, .*workspace\.json; pass the URL without it and the password as PGPASSWORD \(Jenkins: withCredentials\) or a PGPASSFILE$/,
    );
    assert.equal(passwordInUrlWarning("postgres://scoped_cd@db/pulumi"), undefined);
    assert.equal(passwordInUrlWarning("file:///x"), undefined);
  });

  it("explains an unreachable backend in one line naming it, and nothing else as such", () => {
    const url = "postgres://scoped_cd@127.0.0.1:15932/pulumi?sslmode=disable";
    const failure =
      `error: unable to open state database "postgres://scoped_cd:[credential]@127.0.0.1:15932/pulumi?sslmode=disable": ` +
      `failed to ping PostgreSQL: dial tcp 127.0.0.1:15932: connect: connection refused (pulumi exit code 255)`;
    const line = describeBackendFailure(failure, url, "test", {})!;
    assert.equal(line.split("\n").length, 1);
    assert.match(
      line,
      /^the PostgreSQL state backend postgres:\/\/scoped_cd@127\.0\.0\.1:15932\/pulumi could not be reached while running stack test \(failed to ping PostgreSQL: dial tcp 127\.0\.0\.1:15932: connect: connection refused/,
    );
    assert.match(line, /Bring the backend back, then rerun scoped-cd deploy/);
    const auth = describeBackendFailure(
      'error: unable to open state database "x": failed to ping PostgreSQL: pq: password authentication failed for user "scoped_cd" (28P01)',
      url,
      "test",
      {},
    )!;
    assert.match(auth, /Check the credential \(PGPASSWORD or PGPASSFILE\)/);
    assert.equal(describeBackendFailure("error: a chart failed", url, "test", {}), undefined);
    assert.equal(
      deployFailure(
        { stack: "test", workDir: "/w" },
        { stack: "test", stages: [], source: "file" },
        failure,
        url,
      ),
      line,
    );
  });
});

describe("locks in a PostgreSQL backend", () => {
  it("reads Pulumi's lock rows (base64 JSON in a JSON column) like lock files", () => {
    const doc = {
      pid: 77,
      username: "jenkins",
      hostname: "agent-2",
      timestamp: "2026-12-02T10:00:00Z",
    };
    const data = { data: Buffer.from(JSON.stringify(doc)).toString("base64") };
    const key = ".pulumi/locks/organization/scoped-cd/test/abc.json";
    assert.deepEqual(lockOfRow(key, data), { file: key, ...doc });
    assert.deepEqual(lockOfRow(key, JSON.stringify(data)), { file: key, ...doc });
    assert.deepEqual(lockOfRow(key, { data: "not base64 json" }), { file: key });
    assert.equal(
      lockPrefix(
        "postgres://u@h:5432/pulumi?sslmode=disable",
        "scoped-cd",
        "organization/scoped-cd/test",
      ),
      "pulumi/.pulumi/locks/organization/scoped-cd/test/",
    );
    assert.equal(lockPrefix("postgres://u@h", "p", "s"), ".pulumi/locks/organization/p/s/");
  });

  it("takes the table from the URL, refuses one that is not a plain name, and drops it for the driver", () => {
    assert.equal(postgresTable("postgres://u@h/db"), "pulumi_state");
    assert.equal(postgresTable("postgres://u@h/db?table=ci.state"), "ci.state");
    assert.throws(() => postgresTable("postgres://u@h/db?table=x;drop"), /not a plain SQL name/);
    assert.equal(
      postgresConnectionString("postgres://u@h:5432/db?table=t&sslmode=disable"),
      "postgres://u@h:5432/db?sslmode=disable",
    );
  });

  it("names a lock taken on another machine with its age and the command, and never clears it", () => {
    const failure =
      "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
      "  postgres://****:****@127.0.0.1:15932/pulumi/.pulumi/locks/organization/scoped-cd/test/x.json: created by jenkins@agent-2 (pid 4242) at 2026-12-02T10:00:00Z";
    const holders = locksOfRefusal(failure);
    assert.equal(holders.length, 1);
    assert.equal(holders[0].hostname, "agent-2");
    assert.equal(holders[0].pid, 4242);
    const text = describeLocks(
      "test",
      "/w",
      holders,
      "agent-1",
      () => true,
      new Date("2026-12-02T12:05:00Z"),
    );
    assert.match(
      text,
      /pid 4242 on agent-2 \(user jenkins\) since 2026-12-02T10:00:00Z \(held 2h05m\): on another machine/,
    );
    assert.match(text, /never cleared by scoped-cd: .*\(the lock is 2h05m old\)/);
    assert.match(text, /\(cd \/w && pulumi cancel --stack test --yes\)/);
    assert.equal(lockAge("2026-12-02T12:00:00Z", new Date("2026-12-02T12:03:07Z")), "3m07s");
    assert.equal(lockAge("2026-11-29T09:00:00Z", new Date("2026-12-02T12:00:00Z")), "3d03h");
    assert.equal(lockAge(undefined), undefined);
  });
});

describe("an unreachable backend, told apart from the API server", () => {
  const url = "postgres://scoped_cd@127.0.0.1:15932/pulumi?sslmode=disable";
  it("takes Pulumi's checkpoint error over its lock-deletion error, during an up", () => {
    const failure =
      'error: there was a problem deleting the lock at postgres://****:****@127.0.0.1:15932/pulumi/.pulumi/locks/organization/exp/exp/4d.json?sslmode=disable, manual clean up may be required: blob (key ".pulumi/locks/organization/exp/exp/4d.json") (code=Unknown): dial tcp 127.0.0.1:15932: connect: connection refused\n' +
      'error: failed to load checkpoint: blob (key ".pulumi/stacks/exp/exp.json") (code=Unknown): dial tcp 127.0.0.1:15932: connect: connection refused';
    assert.match(
      describeBackendFailure(failure, url, "test", {})!,
      /could not be reached while running stack test \(failed to load checkpoint: /,
    );
  });

  it("leaves an API server that refuses connections to the credential explanation", () => {
    const failure =
      "error: configured Kubernetes cluster is unreachable: dial tcp 127.0.0.1:16543: connect: connection refused";
    assert.equal(describeBackendFailure(failure, url, "test", {}), undefined);
    assert.equal(
      describeBackendFailure("error: failed to load checkpoint: disk", "file:///s", "t", {}),
      undefined,
    );
  });
});

describe("a pgpass file, as libpq reads it", () => {
  it("takes the first matching line, with wildcards and escaped colons", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-pgpass-"));
    const file = path.join(dir, "pgpass");
    fs.writeFileSync(
      file,
      "# comment\n127.0.0.1:15432:*:postgres:admin\n127.0.0.1:15432:pulumi:scoped_cd:pa\\:ss\n*:*:*:*:fallback\n",
      { mode: 0o600 },
    );
    try {
      const env = { PGPASSFILE: file };
      assert.equal(pgpassPassword("postgres://scoped_cd@127.0.0.1:15432/pulumi", env), "pa:ss");
      assert.equal(pgpassPassword("postgres://postgres@127.0.0.1:15432/x", env), "admin");
      assert.equal(pgpassPassword("postgres://u@db:5432/pulumi", env), "fallback");
      assert.equal(pgpassPassword("postgres://u@db/pulumi", { PGPASSFILE: "/none" }), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a lock cleared only when its holder is proven dead (lockWitness)", () => {
  const here = { hostname: "agent-1", bootId: "b-1", pidNamespace: "pid:[4026531836]" };
  const witness: LockWitness = {
    version: 1,
    stack: "test",
    project: "scoped-cd",
    ...here,
    cliPid: 4242,
    cliStart: "123456",
    cliStartedAt: "2026-12-02T10:00:00.000Z",
    deployPid: 4200,
  };
  const lock = {
    file: "k",
    pid: 4242,
    hostname: "agent-1",
    username: "jenkins",
    timestamp: "2026-12-02T10:00:01.5Z",
  };
  const gone = () => undefined;

  it("clears the witnessed process's lock once that process is gone, or its pid reused", () => {
    assert.match(provenDead(lock, witness, here, gone)!, /this boot and pid namespace/);
    // The pid runs again, but it is a later process (another start time): the holder is gone.
    assert.ok(provenDead(lock, witness, here, () => "999999"));
  });

  it("refuses whatever it cannot prove: still running, other host, boot, pid namespace, pid, time, no witness", () => {
    assert.equal(
      provenDead(lock, witness, here, () => "123456"),
      undefined,
      "still running",
    );
    // Two containers of one pod: the same host name, another pid namespace.
    const sibling = { ...here, pidNamespace: "pid:[4026532999]" };
    assert.equal(provenDead(lock, witness, sibling, gone), undefined, "other pid namespace");
    assert.equal(provenDead(lock, witness, { ...here, bootId: "b-2" }, gone), undefined, "reboot");
    assert.equal(provenDead(lock, witness, { ...here, hostname: "x" }, gone), undefined);
    assert.equal(provenDead({ ...lock, hostname: "agent-7" }, witness, here, gone), undefined);
    assert.equal(provenDead({ ...lock, pid: 4243 }, witness, here, gone), undefined, "other pid");
    // A lock taken before the witnessed process started is not its lock.
    const earlier = { ...lock, timestamp: "2026-12-02T09:59:00Z" };
    assert.equal(provenDead(earlier, witness, here, gone), undefined, "earlier lock");
    assert.equal(provenDead({ ...lock, timestamp: undefined }, witness, here, gone), undefined);
    assert.equal(provenDead(lock, undefined, here, gone), undefined, "no witness");
    assert.equal(provenDead(lock, witness, undefined, gone), undefined, "no /proc");
  });

  it("reads the scope, start times and descendants from /proc, and keys the witness without the password", () => {
    const scope = currentScope();
    assert.ok(scope && /^pid:\[\d+\]$/.test(scope.pidNamespace) && scope.bootId.length > 8);
    const start = processStart(process.pid)!;
    assert.match(start, /^\d+$/);
    const at = startedAt(start)!;
    assert.ok(Math.abs(at.getTime() - (Date.now() - process.uptime() * 1000)) < 5_000, String(at));
    assert.equal(processStart(2 ** 22 + 1), undefined);
    assert.deepEqual(descendantsNamed(process.pid, "no-such-command"), []);
    // A grandchild found by command and first argument, as deploy finds its `pulumi up`.
    const sh = spawn("sh", ["-c", "sleep 30; :"], { stdio: "ignore" });
    try {
      const deadline = Date.now() + 5_000;
      let found: number[] = [];
      while (found.length === 0 && Date.now() < deadline) {
        found = descendantsNamed(process.pid, "sleep", "30");
      }
      assert.equal(found.length, 1);
      assert.notEqual(found[0], sh.pid);
      assert.deepEqual(descendantsNamed(process.pid, "sleep", "31"), []);
      process.kill(found[0], "SIGKILL");
    } finally {
      sh.kill("SIGKILL");
    }
    const a = witnessFile("/h", "postgres://u:pw1@db/pulumi", "p", "s");
    assert.equal(a, witnessFile("/h", "postgres://u:pw2@db/pulumi", "p", "s"));
    assert.notEqual(a, witnessFile("/h", "postgres://u@db/pulumi", "p", "other"));
    assert.ok(!a.includes("pw1") && a.startsWith("/h/scoped-cd/lock-witness/"));
  });

  it("writes the witness 0600 and reads back only a complete one", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-witness-"));
    try {
      const file = path.join(dir, "w", "x.json");
      writeWitness(file, witness);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(readWitness(file), witness);
      fs.writeFileSync(file, JSON.stringify({ ...witness, cliStart: 5 }));
      assert.equal(readWitness(file), undefined);
      removeWitness(file);
      assert.equal(readWitness(file), undefined);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("removing one lock of a file backend", () => {
  it("removes that lock file only, not the stack's other locks", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-locks-"));
    try {
      const locks = path.join(dir, ".pulumi", "locks", "organization", "scoped-cd", "test");
      fs.mkdirSync(locks, { recursive: true });
      for (const id of ["a", "b"]) {
        fs.writeFileSync(path.join(locks, `${id}.json`), JSON.stringify({ pid: 1, hostname: id }));
      }
      const [first] = stackLocks(dir, "scoped-cd", "test");
      await removeLock(`file://${dir}`, first);
      assert.deepEqual(
        stackLocks(dir, "scoped-cd", "test").map((l) => l.hostname),
        [first.hostname === "a" ? "b" : "a"],
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
