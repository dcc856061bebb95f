import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { localChartVersion, promotionGate } from "../../components/delivery/promotion";
import { deliveryModeConfig } from "./fixtures";
import { promiseOf, runProgram } from "./harness";

const CHART = "./charts/storefront";

function upstream(release: Record<string, unknown> | undefined) {
  return {
    preprod: {
      namespace: "shop-preprod",
      releases: release ? { storefront: release } : {},
    },
  };
}

const DEPLOYED = { chart: CHART, version: "1.4.2", status: "deployed", revision: 7 };

describe("promotion gate", () => {
  it("passes the upstream version and revision of a deployed release", () => {
    assert.deepEqual(promotionGate(upstream(DEPLOYED), "preprod", "prod", "storefront", CHART), {
      version: "1.4.2",
      revision: 7,
    });
  });

  it("fails, naming stack, stage and release, when the upstream release is missing", () => {
    assert.throws(
      () => promotionGate(upstream(undefined), "preprod", "prod", "storefront", CHART),
      {
        message:
          "promotion of release storefront (stage prod) from stack preprod: stack preprod has no release storefront in its stages output",
      },
    );
  });

  it("fails when the upstream release is not deployed", () => {
    assert.throws(
      () =>
        promotionGate(
          upstream({ ...DEPLOYED, status: "failed" }),
          "preprod",
          "prod",
          "storefront",
          CHART,
        ),
      {
        message:
          'promotion of release storefront (stage prod) from stack preprod: upstream release in stage preprod is "failed", not "deployed"',
      },
    );
  });

  it("fails when the upstream release comes from another chart", () => {
    assert.throws(
      () =>
        promotionGate(
          upstream({ ...DEPLOYED, chart: "./charts/other" }),
          "preprod",
          "prod",
          "storefront",
          CHART,
        ),
      {
        message:
          "promotion of release storefront (stage prod) from stack preprod: upstream release uses chart ./charts/other, this stage ./charts/storefront",
      },
    );
  });

  it("reads a local chart's version from its Chart.yaml", () => {
    assert.equal(localChartVersion(CHART), "1.4.2");
  });
});

describe("a promoted delivery stage", () => {
  const stacks = (release: Record<string, unknown>) => ({
    "prod-access": { kubeconfigs: { prod: "apiVersion: v1\n" }, stages: {} },
    preprod: { stages: upstream(release) },
  });

  function promotedConfig() {
    const config = deliveryModeConfig();
    config.stages.prod.promoteFrom = "preprod";
    return config;
  }

  it("deploys the upstream version and records where it came from", async () => {
    const result = await runProgram(promotedConfig(), { stacks: stacks(DEPLOYED) });
    assert.equal(result.error, undefined);
    const release = result.registrations.find((r) => r.type === "kubernetes:helm.sh/v3:Release")!;
    assert.equal(release.inputs.version, "1.4.2");
    assert.equal(release.inputs.description, "promoted from preprod revision 7");
    const summary = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.deepEqual(summary.prod.releases.storefront.promotedFrom, {
      stack: "preprod",
      revision: 7,
    });
  });

  it("registers no release when the gate fails", async () => {
    const result = await runProgram(promotedConfig(), {
      stacks: stacks({ ...DEPLOYED, status: "pending-upgrade" }),
    });
    assert.equal(
      result.registrations.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length,
      0,
    );
  });

  it("refuses a local chart whose version differs from what passed upstream", async () => {
    const result = await runProgram(promotedConfig(), {
      stacks: stacks({ ...DEPLOYED, version: "1.3.0" }),
    });
    assert.equal(
      result.registrations.filter((r) => r.type === "kubernetes:helm.sh/v3:Release").length,
      0,
    );
  });
});
