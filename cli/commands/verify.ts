// `npm run verify -- --stack <name> [--kubeconfig-file <path>] [--stage <name>] [--work-dir <dir>]
//                   [--other-namespace <ns>]`
// With the stage's scoped kubeconfig only, check the containment matrix of the security model
// (scripts/lib/containment.ts) by SelfSubjectAccessReview and print it as a table.
// Exit 0: every check as expected; 1: any surprise; 2: could not run.
//
// The kubeconfig comes from --kubeconfig-file (what Jenkins holds for a delivery stack) or, for an
// access/all stack, from its secret `kubeconfigs` output. Either way it stays in memory: it is
// parsed, never printed or written anywhere.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import type { StageSummary } from "../components/outputs";
import { commandFailure } from "./lib/cliErrors";
import { buildContainmentMatrix } from "../policy/containment";
import { checkContainment, ContainmentRow, renderContainmentTable } from "./lib/containmentCheck";

const REPO = path.resolve(__dirname, "../..");
const EXIT_SURPRISE = 1;
const EXIT_COULD_NOT_RUN = 2;

const USAGE = `usage: node bin/scripts/verify.js --stack <name> [--kubeconfig-file <path>] [--stage <name>]
                              [--work-dir <dir>] [--other-namespace <ns>]
  --stack            the stack whose stages are checked
  --kubeconfig-file  the scoped kubeconfig to check with (required for a delivery stack); it
                     belongs to one stage: the stack's only stage, or the one named by --stage
  --stage            check only this stage
  --work-dir         the Pulumi project directory (default: the repository root)
  --other-namespace  a namespace besides kube-system that must be out of reach (default: default)
exit: 0 all as expected, 1 any surprise, 2 could not run`;

interface VerifyArgs {
  readonly stack: string;
  readonly kubeconfigFile?: string;
  readonly stage?: string;
  readonly workDir: string;
  readonly otherNamespace: string;
}

function parseVerifyArgs(argv: string[]): VerifyArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      stack: { type: "string" },
      "kubeconfig-file": { type: "string" },
      stage: { type: "string" },
      "work-dir": { type: "string", default: REPO },
      "other-namespace": { type: "string", default: "default" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length > 0) throw new Error(`unexpected argument: ${positionals[0]}`);
  if (!values.stack) throw new Error("--stack is required");
  return {
    stack: values.stack,
    kubeconfigFile: values["kubeconfig-file"],
    stage: values.stage,
    workDir: path.resolve(values["work-dir"]),
    otherNamespace: values["other-namespace"],
  };
}

/** Thrown for anything that keeps the check from running (exit 2), as opposed to a surprise. */
class CannotRun extends Error {}

interface StageToCheck {
  readonly stage: string;
  readonly summary: StageSummary;
  readonly kubeconfig: string;
}

async function stagesToCheck(args: VerifyArgs): Promise<StageToCheck[]> {
  const stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  const outputs = await stack.outputs();
  const stages = outputs.stages?.value as Record<string, StageSummary> | undefined;
  if (!stages || Object.keys(stages).length === 0) {
    throw new CannotRun(`stack ${args.stack} has no stages output: has it been deployed?`);
  }
  let names = Object.keys(stages);
  if (args.stage) {
    if (!stages[args.stage]) {
      throw new CannotRun(
        `stack ${args.stack} has no stage ${args.stage} (it has ${names.join(", ")})`,
      );
    }
    names = [args.stage];
  }

  if (args.kubeconfigFile) {
    if (names.length !== 1) {
      throw new CannotRun(
        `--kubeconfig-file belongs to one stage, and stack ${args.stack} has ${names.join(", ")}: add --stage`,
      );
    }
    const kubeconfig = fs.readFileSync(args.kubeconfigFile, "utf8");
    return [{ stage: names[0], summary: stages[names[0]], kubeconfig }];
  }

  const kubeconfigs = outputs.kubeconfigs?.value as Record<string, string> | undefined;
  if (!kubeconfigs) {
    throw new CannotRun(
      `stack ${args.stack} exports no kubeconfigs (a delivery stack): pass --kubeconfig-file`,
    );
  }
  return names.map((stage) => {
    if (!kubeconfigs[stage])
      throw new CannotRun(`stack ${args.stack} has no kubeconfig for ${stage}`);
    return { stage, summary: stages[stage], kubeconfig: kubeconfigs[stage] };
  });
}

async function main(): Promise<number> {
  let args: VerifyArgs;
  try {
    args = parseVerifyArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`verify: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return EXIT_COULD_NOT_RUN;
  }

  const targets = await stagesToCheck(args);
  let surprises = 0;
  for (const { stage, summary, kubeconfig } of targets) {
    const tiller = summary.tiller?.enabled ?? undefined;
    const identity = summary.serviceAccount ? `, as ${summary.serviceAccount}` : "";
    console.log(
      `== stack ${args.stack}, stage ${stage} (namespace ${summary.namespace}${identity})`,
    );
    if (tiller === undefined) {
      console.log("   Tiller unknown to this stack: the port-forward check is left out");
    }
    const matrix = buildContainmentMatrix({
      namespace: summary.namespace,
      otherNamespace: args.otherNamespace,
      tiller,
    });
    let rows: ContainmentRow[];
    try {
      rows = await checkContainment(kubeconfig, matrix);
    } catch (err) {
      // The client's error can quote the request; keep only its first line (never the kubeconfig).
      const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
      throw new CannotRun(`asking the API server failed for stage ${stage}: ${message}`);
    }
    console.log(renderContainmentTable(rows));
    const stageSurprises = rows.filter((r) => !r.ok).length;
    console.log(
      stageSurprises === 0
        ? `   ${rows.length} checks, all as expected\n`
        : `   ${stageSurprises} of ${rows.length} checks SURPRISING\n`,
    );
    surprises += stageSurprises;
  }
  return surprises === 0 ? 0 : EXIT_SURPRISE;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`verify: could not run: ${commandFailure(err)}`);
    process.exit(EXIT_COULD_NOT_RUN);
  },
);
