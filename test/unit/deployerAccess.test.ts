// The deployer's identity registers the same resources (type, name, parent, provider,
// dependencies and inputs) for each credential kind as before its constructor was split into one
// function per kind: an existing stack must not see a replacement. The fixture was recorded from
// the unsplit constructor.
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { allModeConfig } from "./fixtures";
import { runProgram } from "./harness";

const FIXTURE = path.resolve(__dirname, "../../../test/unit/deployerAccess.fixture.json");

const CREDENTIALS: Record<string, Record<string, unknown>> = {
  token: { kind: "token", lifetimeSeconds: 3600 },
  legacy: { kind: "legacy" },
  oidc: {
    kind: "oidc",
    oidc: {
      issuer: "https://jenkins.example.com/oidc",
      audience: "scoped-cd",
      jobs: ["https://jenkins.example.com/job/shop/job/deploy/"],
    },
  },
};

/** The access layer's registrations of one kind, in a stable order, as plain JSON. */
async function accessRegistrations(credential: Record<string, unknown>) {
  const c = allModeConfig();
  c.stages.dev.deployer.credential = credential;
  const result = await runProgram(c);
  assert.equal(result.error, undefined);
  const plain = result.registrations
    .filter((r) => r.urn.includes("DeployerAccess") || r.type.includes("DeployerAccess"))
    .map((r) => ({ ...r, dependencies: [...r.dependencies].sort() }))
    .sort((a, b) => a.urn.localeCompare(b.urn));
  return JSON.parse(JSON.stringify(plain)) as unknown[];
}

describe("the deployer's identity per credential kind", () => {
  for (const [kind, credential] of Object.entries(CREDENTIALS)) {
    it(`registers what it registered before the split (${kind})`, async () => {
      const recorded = JSON.parse(fs.readFileSync(FIXTURE, "utf8")) as Record<string, unknown[]>;
      const now = await accessRegistrations(credential);
      if (process.env.RECORD_DEPLOYER_ACCESS) {
        fs.writeFileSync(FIXTURE, JSON.stringify({ ...recorded, [kind]: now }, null, 1) + "\n");
        return;
      }
      assert.ok(recorded[kind] && recorded[kind].length > 0, `no recording for ${kind}`);
      assert.deepEqual(now, recorded[kind]);
    });
  }
});
