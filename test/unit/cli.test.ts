// The `scoped-cd` command line: what each subcommand accepts, the exact error lines and exit codes
// for what it refuses (before anything runs), generated help, and the `--output json` shapes.
// Runners are replaced by recorders: no Pulumi, no cluster.
import * as assert from "node:assert/strict";
import * as path from "node:path";
import type { UpResult } from "@pulumi/pulumi/automation";
import type { StageSummary } from "../../components/outputs";
import { deployJson } from "../../cli/commands/deploy";
import { driftJson } from "../../cli/commands/drift";
import { stageTargets, verifyJson } from "../../cli/commands/verify";
import { CliError, plainText } from "../../cli/errors";
import { Io } from "../../cli/io";
import { PROJECT_ROOT } from "../../cli/lib/paths";
import { renderStagesTable } from "../../cli/lib/stages";
import { renderTable } from "../../cli/lib/table";
import { CheckRow } from "../../cli/lib/verify/types";
import { run, Runners } from "../../cli/program";
import { cleanStack, driftedStack, failedStack } from "./driftReport.fixtures";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** The args the subcommand's runner received, if it ran. */
  args?: unknown;
  ran?: keyof Runners;
}

/** Run the CLI with every runner replaced by one that records its args and returns `code`. */
async function cli(argv: string[], runner?: () => Promise<number>): Promise<Outcome> {
  const outcome: Outcome = { code: -1, stdout: "", stderr: "" };
  const io: Io = {
    stdout: (t) => void (outcome.stdout += t),
    stderr: (t) => void (outcome.stderr += t),
  };
  const recorder =
    (name: keyof Runners) =>
    async (args: unknown): Promise<never> => {
      outcome.args = args;
      outcome.ran = name;
      return (runner ? await runner() : 0) as never;
    };
  const runners = Object.fromEntries(
    (["deploy", "handoff", "drift", "verify", "demo"] as const).map((n) => [n, recorder(n)]),
  ) as unknown as Runners;
  outcome.code = await run(argv, io, runners);
  return outcome;
}

/** A usage error: exit 2, exactly this one line on stderr, nothing on stdout, nothing run. */
async function assertUsageError(argv: string[], line: string) {
  const out = await cli(argv);
  assert.equal(out.stderr, `${line}\n`);
  assert.equal(out.code, 2);
  assert.equal(out.stdout, "");
  assert.equal(out.ran, undefined);
}

const abs = (p: string) => path.resolve(p);

describe("scoped-cd command line", () => {
  describe("deploy", () => {
    it("takes a stack, its kubeconfig file as <stack>=<path>, and json output", async () => {
      const out = await cli([
        "deploy",
        "--stack",
        "test",
        "--kubeconfig-file",
        "test=secrets/test.kubeconfig",
        "--output",
        "json",
      ]);
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.ran, "deploy");
      assert.deepEqual(out.args, {
        stack: "test",
        kubeconfig: { kind: "file", stack: "test", path: abs("secrets/test.kubeconfig") },
        workDir: PROJECT_ROOT,
        output: "json",
      });
    });

    it("runs without a kubeconfig file (the stack's accessStack decides), in text", async () => {
      const out = await cli(["deploy", "--stack", "preprod", "--work-dir", "/tmp/project"]);
      assert.deepEqual(out.args, {
        stack: "preprod",
        kubeconfig: undefined,
        workDir: "/tmp/project",
        output: "text",
      });
    });

    it("requires --stack", () =>
      assertUsageError(["deploy"], "scoped-cd deploy: --stack is required"));

    it("refuses a kubeconfig file for another stack", () =>
      assertUsageError(
        ["deploy", "--stack", "test", "--kubeconfig-file", "prod=/k"],
        "scoped-cd deploy: --kubeconfig-file names stack prod, which is not a --stack of this run",
      ));

    it("refuses a kubeconfig file without its stack", () =>
      assertUsageError(
        ["deploy", "--stack", "test", "--kubeconfig-file", "/k"],
        "scoped-cd deploy: --kubeconfig-file takes <stack>=<path>, got /k",
      ));

    it("refuses unknown options and positional arguments", async () => {
      await assertUsageError(
        ["deploy", "--stack", "test", "--bogus"],
        "scoped-cd deploy: unknown option '--bogus'",
      );
      await assertUsageError(
        ["deploy", "test"],
        "scoped-cd deploy: too many arguments for 'deploy'. Expected 0 arguments but got 1.",
      );
    });
  });

  describe("handoff", () => {
    it("asks before up by default and writes to the default place", async () => {
      const out = await cli(["handoff", "--stack", "prod-access"]);
      assert.deepEqual(out.args, {
        stack: "prod-access",
        stage: undefined,
        out: undefined,
        yes: false,
        up: true,
        workDir: PROJECT_ROOT,
      });
    });

    it("takes --stage, --out, --yes", async () => {
      const out = await cli([
        "handoff",
        "--stack",
        "prod-access",
        "--stage",
        "prod",
        "--out",
        "prod.kubeconfig",
        "--yes",
      ]);
      assert.deepEqual(out.args, {
        stack: "prod-access",
        stage: "prod",
        out: abs("prod.kubeconfig"),
        yes: true,
        up: true,
        workDir: PROJECT_ROOT,
      });
    });

    it("skips up with --no-up", async () => {
      const out = await cli(["handoff", "--stack", "prod-access", "--no-up"]);
      assert.equal((out.args as { up: boolean }).up, false);
    });

    it("requires --stack", () =>
      assertUsageError(["handoff"], "scoped-cd handoff: --stack is required"));

    it("refuses --yes with --no-up", () =>
      assertUsageError(
        ["handoff", "--stack", "prod-access", "--yes", "--no-up"],
        "scoped-cd handoff: --yes and --no-up together: there is nothing to confirm",
      ));

    it("has no --output (it prints no table)", () =>
      assertUsageError(
        ["handoff", "--stack", "prod-access", "--output", "json"],
        "scoped-cd handoff: unknown option '--output' (Did you mean --out?)",
      ));
  });

  describe("drift", () => {
    it("takes several stacks, each with its own kubeconfig file", async () => {
      const out = await cli([
        "drift",
        "--stack",
        "test",
        "--kubeconfig-file",
        "test=t.kubeconfig",
        "--stack",
        "prod",
        "--kubeconfig-file",
        "prod=p.kubeconfig",
        "--out",
        "report.md",
      ]);
      assert.equal(out.code, 0, out.stderr);
      const args = out.args as Record<string, unknown>;
      assert.deepEqual(args.stacks, ["test", "prod"]);
      assert.deepEqual(
        [...(args.kubeconfigs as Map<string, unknown>).entries()],
        [
          ["test", { kind: "file", stack: "test", path: abs("t.kubeconfig") }],
          ["prod", { kind: "file", stack: "prod", path: abs("p.kubeconfig") }],
        ],
      );
      assert.equal(args.out, abs("report.md"));
      assert.equal(args.output, "text");
    });

    it("writes drift-report.md by default", async () => {
      const out = await cli(["drift", "--stack", "test"]);
      assert.equal((out.args as { out: string }).out, abs("drift-report.md"));
    });

    it("requires a stack", () =>
      assertUsageError(["drift"], "scoped-cd drift: at least one --stack is required"));

    it("refuses a stack given twice", () =>
      assertUsageError(
        ["drift", "--stack", "test", "--stack", "test"],
        "scoped-cd drift: --stack test is given twice",
      ));

    it("refuses two kubeconfig files for one stack", () =>
      assertUsageError(
        ["drift", "--stack", "test", "--kubeconfig-file", "test=a", "--kubeconfig-file", "test=b"],
        "scoped-cd drift: --kubeconfig-file is given twice for stack test",
      ));

    it("refuses a kubeconfig file for a stack it does not preview", () =>
      assertUsageError(
        ["drift", "--stack", "test", "--kubeconfig-file", "prod=p"],
        "scoped-cd drift: --kubeconfig-file names stack prod, which is not a --stack of this run",
      ));

    it("previews every stack at once unless --concurrency says otherwise", async () => {
      const all = await cli(["drift", "--stack", "a", "--stack", "b", "--stack", "c"]);
      assert.equal((all.args as { concurrency: number }).concurrency, 3);
      const one = await cli(["drift", "--stack", "a", "--stack", "b", "--concurrency", "1"]);
      assert.equal((one.args as { concurrency: number }).concurrency, 1);
    });

    it("refuses a concurrency below 1", () =>
      assertUsageError(
        ["drift", "--stack", "test", "--concurrency", "0"],
        "scoped-cd drift: option '--concurrency <n>' argument '0' is invalid. a whole number, at least 1",
      ));

    it("passes the runner's exit code through", async () => {
      const out = await cli(["drift", "--stack", "test"], async () => 1);
      assert.equal(out.code, 1);
    });
  });

  describe("verify", () => {
    it("takes a stack, a stage and a kubeconfig file", async () => {
      const out = await cli([
        "verify",
        "--stack",
        "prod-access",
        "--stage",
        "prod",
        "--kubeconfig-file",
        "prod-access=k",
        "--other-namespace",
        "shop-staging",
      ]);
      assert.deepEqual(out.args, {
        stack: "prod-access",
        kubeconfig: { kind: "file", stack: "prod-access", path: abs("k") },
        stage: "prod",
        workDir: PROJECT_ROOT,
        otherNamespace: "shop-staging",
        output: "text",
      });
    });

    it("requires --stack", () =>
      assertUsageError(["verify"], "scoped-cd verify: --stack is required"));

    it("accepts only text or json output", () =>
      assertUsageError(
        ["verify", "--stack", "test", "--output", "xml"],
        "scoped-cd verify: option '--output <format>' argument 'xml' is invalid. Allowed choices are text, json.",
      ));

    it("takes one kubeconfig file for its stack", () =>
      assertUsageError(
        ["verify", "--stack", "test", "--kubeconfig-file", "test=a", "--kubeconfig-file", "test=b"],
        "scoped-cd verify: --kubeconfig-file is given twice for stack test",
      ));
  });

  describe("demo", () => {
    it("deploys dev and writes .local/dev.kubeconfig by default", async () => {
      const out = await cli(["demo"]);
      assert.deepEqual(out.args, {
        stack: "dev",
        out: path.join(PROJECT_ROOT, ".local", "dev.kubeconfig"),
        workDir: PROJECT_ROOT,
        localEnv: true,
        output: "text",
      });
    });

    it("can use an environment already set up, and print json", async () => {
      const out = await cli(["demo", "--no-local-env", "--output", "json"]);
      const args = out.args as { localEnv: boolean; output: string };
      assert.equal(args.localEnv, false);
      assert.equal(args.output, "json");
    });
  });

  describe("errors and help", () => {
    it("names an unknown subcommand in the common prefix", () =>
      assertUsageError(["frob"], "scoped-cd: unknown command 'frob'"));

    it("prints a CliError from a runner with its exit code and no stack trace", async () => {
      const out = await cli(["verify", "--stack", "t"], async () => {
        throw new CliError("stack t has no stages output: has it been deployed?");
      });
      assert.equal(out.code, 2);
      assert.equal(
        out.stderr,
        "scoped-cd verify: stack t has no stages output: has it been deployed?\n",
      );
    });

    it("reports an unforeseen failure as could not run, without a stack trace", async () => {
      const out = await cli(["deploy", "--stack", "t"], async () => {
        throw new Error("backend unreachable");
      });
      assert.equal(out.code, 2);
      assert.equal(out.stderr, "scoped-cd deploy: could not run: backend unreachable\n");
      assert.doesNotMatch(out.stderr, /^\s+at /m);
    });

    it("generates help for the command and each subcommand, with examples", async () => {
      const root = await cli(["--help"]);
      assert.equal(root.code, 0);
      for (const sub of ["deploy", "handoff", "drift", "verify", "demo"]) {
        assert.match(root.stdout, new RegExp(`^  ${sub} \\[options\\]`, "m"));
        const help = await cli([sub, "--help"]);
        assert.equal(help.code, 0);
        assert.match(help.stdout, new RegExp(`^Usage: scoped-cd ${sub} \\[options\\]`));
        assert.match(help.stdout, /\nExamples:\n {2}\$ /);
        assert.equal(help.ran, undefined);
      }
      const deploy = await cli(["deploy", "--help"]);
      assert.match(deploy.stdout, /--kubeconfig-file <stack>=<path>/);
      assert.match(deploy.stdout, /--output <format>/);
    });
  });
});

describe("scoped-cd output", () => {
  const stages: Record<string, StageSummary> = {
    test: {
      namespace: "shop-test",
      serviceAccount: "deployer-abc",
      rotation: "initial",
      tiller: { enabled: false, namespace: null },
      releases: {
        storefront: {
          chart: "./charts/storefront",
          version: "1.4.2",
          status: "deployed",
          revision: 3,
        },
      },
    },
  };

  it("renders aligned tables without trailing spaces", () => {
    assert.equal(
      renderTable([
        ["A", "BB", "C"],
        ["aaa", "b", ""],
      ]),
      "A    BB  C\naaa  b",
    );
  });

  it("renders the stages output one line per release", () => {
    assert.equal(
      renderStagesTable(stages),
      [
        "STAGE  NAMESPACE  DEPLOYER      ROTATION  TILLER  RELEASE     CHART                VERSION  STATUS    REV",
        "test   shop-test  deployer-abc  initial   off     storefront  ./charts/storefront  1.4.2    deployed  3",
      ].join("\n"),
    );
  });

  it("deploy --output json: the stack, the update's result and the stages output", () => {
    const up = {
      summary: { result: "succeeded" },
      outputs: { stages: { value: stages, secret: false } },
    } as unknown as UpResult;
    assert.deepEqual(JSON.parse(JSON.stringify(deployJson("test", up))), {
      stack: "test",
      result: "succeeded",
      stages,
    });
  });

  it("drift --output json: verdict, exit code, and the analysis per stack", () => {
    const doc = JSON.parse(
      JSON.stringify(driftJson([cleanStack(), driftedStack(), failedStack()])),
    );
    assert.equal(doc.verdict, "could not run");
    assert.equal(doc.exitCode, 2);
    assert.deepEqual(
      doc.stacks.map((s: { stack: string }) => s.stack),
      ["test", "preprod", "prod"],
    );
    const [clean, drifted, failed] = doc.stacks;
    assert.deepEqual(Object.keys(clean).sort(), [
      "admission",
      "counts",
      "drifted",
      "permissionDelta",
      "planned",
      "resources",
      "stack",
      "strayGrants",
      "undeclared",
    ]);
    assert.deepEqual(clean.counts, { create: 0, update: 0, replace: 0, delete: 0 });
    assert.equal(drifted.drifted.length, 3);
    assert.deepEqual(drifted.counts, { create: 1, update: 1, replace: 1, delete: 0 });
    assert.deepEqual(Object.keys(failed).sort(), ["error", "stack"]);
    assert.ok(!JSON.stringify(doc).includes("1b47061264138c4ac30d75fd1eb44270"));
    assert.deepEqual(driftJson([cleanStack()]).verdict, "clean");
  });

  it("verify --output json: per stage its checks and surprises, and the overall verdict", () => {
    const row = (ok: boolean): CheckRow => ({
      check: "containment",
      description: "get secrets in kube-system",
      expected: "forbidden",
      actual: ok ? "forbidden" : "allowed",
      ok,
    });
    const result = (surprise: boolean) => ({
      stage: "test",
      namespace: "shop-test",
      serviceAccount: "deployer-abc",
      tiller: false,
      checks: [row(true), row(!surprise)],
      surprises: surprise ? 1 : 0,
      undeclared: [],
    });
    assert.deepEqual(verifyJson("test", [result(false)]), {
      stack: "test",
      ok: true,
      surprises: 0,
      stages: [result(false)],
    });
    assert.deepEqual(verifyJson("test", [result(true)]).ok, false);
    assert.deepEqual(verifyJson("test", [result(true)]).surprises, 1);
  });

  it("verify picks the stage's kubeconfig from the file or the stack's output", () => {
    const base = {
      stack: "all",
      workDir: "/w",
      otherNamespace: "default",
      output: "text" as const,
    };
    const targets = stageTargets(base, { stages, kubeconfigs: { test: "kubeconfig-yaml" } });
    assert.deepEqual(
      targets.map((t) => [t.stage, t.kubeconfig, t.otherNamespace]),
      [["test", "kubeconfig-yaml", "default"]],
    );
    assert.throws(
      () => stageTargets(base, { stages }),
      new CliError(
        "stack all exports no kubeconfigs (a delivery stack): pass --kubeconfig-file all=<path>",
      ),
    );
    assert.throws(
      () => stageTargets({ ...base, stage: "prod" }, { stages }),
      new CliError("stack all has no stage prod (it has test)"),
    );
    assert.throws(
      () => stageTargets(base, {}),
      new CliError("stack all has no stages output: has it been deployed?"),
    );
  });

  it("strips ANSI escapes and Pulumi's colour directives from CLI text", () => {
    assert.equal(plainText("\u001b[31merror:\u001b[0m <{%reset%}>boom<{%reset%}>"), "error: boom");
  });
});
