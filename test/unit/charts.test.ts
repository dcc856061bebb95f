import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { parseConfig } from "../../config";
import { chartReference, providerChart } from "../../components/delivery/charts";
import { promotionGate } from "../../components/delivery/promotion";
import { deliveryModeConfig } from "./fixtures";
import { promiseOf, runProgram } from "./harness";

const REPO = "oci://registry.example.com:5000/charts";
const REF = `${REPO}/storefront`;

/** The delivery fixture with its release taken from an OCI registry. */
function ociConfig(release: Record<string, unknown> = {}) {
  const config = deliveryModeConfig();
  config.stages.prod.releases.storefront = {
    chart: "storefront",
    repo: REPO,
    version: "1.4.2",
    ...release,
  };
  return config;
}

const problemsOf = (release: Record<string, unknown>): string[] =>
  parseConfig(ociConfig(release)).problems;
const at = (key: string) => `scoped-cd:stages.prod.releases.storefront.${key}`;

describe("chart references", () => {
  it("names an OCI chart by its full reference, a local or repository chart by its chart key", () => {
    assert.equal(chartReference({ chart: "storefront", repo: REPO }), REF);
    assert.equal(chartReference({ chart: "storefront", repo: `${REPO}/` }), REF);
    assert.equal(chartReference({ chart: "./charts/storefront" }), "./charts/storefront");
    assert.equal(chartReference({ chart: "redis", repo: "https://charts.example.com" }), "redis");
  });

  it("hands Helm an OCI chart as its full reference with no repository (no index.yaml lookup)", () => {
    assert.deepEqual(providerChart({ chart: "storefront", repo: REPO }), { chart: REF });
    assert.deepEqual(providerChart({ chart: "redis", repo: "https://charts.example.com" }), {
      chart: "redis",
      repositoryOpts: { repo: "https://charts.example.com" },
    });
  });
});

describe("OCI chart configuration", () => {
  it("accepts a chart name, an oci:// repository and an exact version", () => {
    assert.deepEqual(problemsOf({}), []);
    assert.deepEqual(problemsOf({ version: "v1.4.2-rc.1" }), []);
  });

  const BAD: { what: string; release: Record<string, unknown>; problem: string }[] = [
    {
      what: "an oci:// reference in chart",
      release: { chart: REF, repo: undefined },
      problem: `${at("chart")}: is an oci:// reference; set repo to the registry location (oci://host/path) and chart to the chart's name`,
    },
    {
      what: "a version range",
      release: { version: "^1.4.0" },
      problem: `${at("version")}: must be an exact version such as 1.4.2 for an oci chart (a range is not a pin)`,
    },
    {
      what: "no version",
      release: { version: undefined },
      problem: `${at("version")}: is required for a repository chart (pin what you deploy)`,
    },
    {
      what: "a tag in the chart name",
      release: { chart: "storefront:1.4.2" },
      problem: `${at("chart")}: must be the chart's name in the oci repo (lower case, no '/', ':' or '@'); the version goes in version`,
    },
    {
      what: "credentials in the repository URL",
      release: { repo: "oci://ci:hunter2@registry.example.com/charts" },
      problem: `${at("repo")}: must not hold credentials; log in to the registry with helm registry login instead`,
    },
    {
      what: "a query in the repository URL",
      release: { repo: `${REPO}?tag=latest` },
      problem: `${at("repo")}: must be oci://host[:port]/path, without a query or fragment`,
    },
  ];
  for (const bad of BAD) {
    it(`rejects ${bad.what}, naming the key`, () => {
      const problems = problemsOf(bad.release);
      assert.ok(problems.includes(bad.problem), problems.join("\n"));
    });
  }

  it("never repeats the credentials of a refused URL in the problem", () => {
    const problems = problemsOf({ repo: "oci://ci:hunter2@registry.example.com/charts" });
    assert.ok(!problems.join("\n").includes("hunter2"), problems.join("\n"));
  });
});

describe("a release from an OCI registry", () => {
  it("registers the chart by full reference and pinned version, and records both", async () => {
    const result = await runProgram(ociConfig(), {
      stacks: { "prod-access": { kubeconfigs: { prod: "apiVersion: v1\n" }, stages: {} } },
    });
    assert.equal(result.error, undefined);
    const release = result.registrations.find((r) => r.type === "kubernetes:helm.sh/v3:Release")!;
    assert.equal(release.inputs.chart, REF);
    assert.equal(release.inputs.version, "1.4.2");
    assert.equal(release.inputs.repositoryOpts, undefined);
    const stages = await promiseOf(result.outputs.stages as pulumi.Output<any>);
    assert.equal(stages.prod.releases.storefront.chart, REF);
    assert.equal(stages.prod.releases.storefront.version, "1.4.2");
  });

  const upstream = (chart: string, version = "1.4.3") => ({
    preprod: { releases: { storefront: { chart, version, status: "deployed", revision: 4 } } },
  });

  it("is promoted at exactly the upstream version when the upstream used the same reference", async () => {
    const config = ociConfig({ version: undefined });
    config.stages.prod.promoteFrom = "preprod";
    const result = await runProgram(config, {
      stacks: {
        "prod-access": { kubeconfigs: { prod: "apiVersion: v1\n" }, stages: {} },
        preprod: { stages: upstream(REF) },
      },
    });
    assert.equal(result.error, undefined);
    const release = result.registrations.find((r) => r.type === "kubernetes:helm.sh/v3:Release")!;
    assert.equal(release.inputs.chart, REF);
    assert.equal(release.inputs.version, "1.4.3");
  });

  it("is not promoted from a chart of the same name in another registry", () => {
    assert.throws(
      () =>
        promotionGate(
          upstream("oci://other.example.com/charts/storefront"),
          "preprod",
          "prod",
          "storefront",
          REF,
        ),
      {
        message: `promotion of release storefront (stage prod) from stack preprod: upstream release uses chart oci://other.example.com/charts/storefront, this stage ${REF}`,
      },
    );
  });
});
