// Issue 20: how a failed access up reads. The Kubernetes provider reports a create the API
// server's quota admission refused in a race (409 on the ResourceQuota's status) as
// "Server-Side Apply field conflict detected", its cause on the next line; the CLI shows that
// line too, and the access up runs again, a bounded number of times, for that race alone.
import * as assert from "node:assert/strict";
import { commandFailure } from "../../cli/errors";
import { Io } from "../../cli/io";
import { quotaStatusConflict, UP_ATTEMPTS, upUntilNoQuotaRace } from "../../cli/lib/accessUp";

/** A CommandError as the Automation API throws it: the CLI's stderr and exit code. */
const failed = (stderr: string, code = 255) =>
  Object.assign(new Error("code: 255\n stdout: (the whole progress display)"), {
    commandResult: { stdout: "progress", stderr, code },
  });

const QUOTA_RACE = [
  `error: resource "urn:pulumi:a::scoped-cd::scoped-cd:stage:Stage$scoped-cd:access:DeployerAccess$kubernetes:core/v1:ServiceAccount::s5-deployer-sa" was not successfully created by the Kubernetes API server: Server-Side Apply field conflict detected. See https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources for troubleshooting help.`,
  `The resource managed by field manager "pulumi-kubernetes-b5777861" had an apply conflict: Operation cannot be fulfilled on resourcequotas "stage-quota": the object has been modified; please apply your changes to the latest version and try again`,
  "",
  "error: update failed",
].join("\n");

const FIELD_CONFLICT = [
  `error: resource "urn:...::s5-deployer-sa" was not successfully created by the Kubernetes API server: Server-Side Apply field conflict detected. See https://... for troubleshooting help.`,
  `The resource managed by field manager "pulumi-kubernetes-1" had an apply conflict: Apply failed with 1 conflict: conflict with "kubectl" using v1: .metadata.labels.team`,
  "error: update failed",
].join("\n");

function recordingIo(): Io & { lines: string[] } {
  const lines: string[] = [];
  return { lines, stdout: () => undefined, stderr: (t: string) => void lines.push(t) };
}

describe("a failed access up", () => {
  it("shows the provider's cause line beside the error lines, not the outputs around them", () => {
    const shown = commandFailure(
      failed(
        `Outputs:\n    stages: {\n        f1: { namespace: "ns" }\n    }\n\n${QUOTA_RACE}\nResources:\n    1 unchanged`,
      ),
    );
    assert.match(shown, /Server-Side Apply field conflict detected/);
    assert.match(shown, /Operation cannot be fulfilled on resourcequotas "stage-quota"/);
    assert.match(shown, /error: update failed \(pulumi exit code 255\)$/);
    assert.doesNotMatch(shown, /Outputs|namespace|unchanged/);
    assert.match(
      commandFailure(failed(FIELD_CONFLICT)),
      /had an apply conflict: Apply failed with 1 conflict/,
    );
  });

  it("still falls back to the last lines when stderr names no error", () => {
    assert.equal(commandFailure(failed("one\ntwo", 1)), "one\ntwo (pulumi exit code 1)");
  });

  it("tells the quota admission's race from a real field conflict and from anything else", () => {
    assert.equal(quotaStatusConflict(failed(QUOTA_RACE)), true);
    assert.equal(quotaStatusConflict(failed(FIELD_CONFLICT)), false);
    assert.equal(
      quotaStatusConflict(new Error("Operation cannot be fulfilled on resourcequotas")),
      false,
    );
    assert.equal(quotaStatusConflict(undefined), false);
  });

  it("runs the up again after the race, and says so", async () => {
    const io = recordingIo();
    let calls = 0;
    await upUntilNoQuotaRace(
      async () => {
        if (++calls < 3) throw failed(QUOTA_RACE);
      },
      "prod-access",
      io,
    );
    assert.equal(calls, 3);
    assert.equal(io.lines.length, 2);
    assert.match(
      io.lines[0],
      /^== prod-access: the API server refused a create while it updated a ResourceQuota's usage .*attempt 2 of 3/,
    );
  });

  it("gives up after UP_ATTEMPTS runs with the last failure", async () => {
    let calls = 0;
    const last = failed(QUOTA_RACE);
    await assert.rejects(
      upUntilNoQuotaRace(
        async () => {
          calls++;
          throw last;
        },
        "prod-access",
        recordingIo(),
      ),
      (err) => err === last,
    );
    assert.equal(calls, UP_ATTEMPTS);
  });

  it("never reruns any other failure", async () => {
    for (const err of [
      failed(FIELD_CONFLICT),
      failed("error: the admin credential was refused"),
      new Error("lock"),
    ]) {
      let calls = 0;
      const io = recordingIo();
      await assert.rejects(
        upUntilNoQuotaRace(
          async () => {
            calls++;
            throw err;
          },
          "prod-access",
          io,
        ),
        (e) => e === err,
      );
      assert.equal(calls, 1);
      assert.deepEqual(io.lines, []);
    }
  });
});
