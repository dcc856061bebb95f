// `npm run drift -- --stack test --stack preprod [--out drift-report.md] [--work-dir <dir>]`:
// a refreshing preview (`pulumi preview --refresh --diff`) of each stack through the Automation
// API, rendered into one Markdown report (scripts/lib/driftReport.ts) for the pull request.
// Exit 0: clean; 1: changes or drift; 2: some stack could not be previewed (the report says why).
//
// It needs only what the stack's own `pulumi preview` needs: the backend and passphrase, plus the
// scoped kubeconfig for a delivery stack. It never asks for secrets to be shown: the engine blinds
// them in events, and the renderer masks them again by key and shape.
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { EngineEvent, LocalWorkspace } from "@pulumi/pulumi/automation";
import { commandFailure, plainText } from "./lib/cliErrors";
import { withScopedKubeconfig } from "./lib/scopedConfig";
import { driftExitCode, renderDriftReport, StackPreview } from "./lib/driftReport";

const REPO = path.resolve(__dirname, "../..");
const EXIT_COULD_NOT_RUN = 2;

const USAGE = `usage: node bin/scripts/drift.js --stack <name> [--stack <name> ...]
                             [--kubeconfig-file <stack>=<path> ...] [--out <file>] [--work-dir <dir>]
  --stack            stack to preview with --refresh (repeatable, in report order)
  --kubeconfig-file  the scoped kubeconfig for a delivery stack, as Jenkins holds it; used for
                     this run as the secret scoped-cd:kubeconfig instead of accessStack
  --out              where to write the Markdown report (default: drift-report.md)
  --work-dir         the Pulumi project directory (default: the repository root)
exit: 0 clean, 1 changes or drift, 2 could not run`;

interface DriftArgs {
  readonly stacks: string[];
  /** stack -> the scoped kubeconfig file to preview it with */
  readonly kubeconfigFiles: ReadonlyMap<string, string>;
  readonly out: string;
  readonly workDir: string;
}

function parseDriftArgs(argv: string[]): DriftArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      stack: { type: "string", multiple: true },
      "kubeconfig-file": { type: "string", multiple: true },
      out: { type: "string", default: "drift-report.md" },
      "work-dir": { type: "string", default: REPO },
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
  const stacks = values.stack ?? [];
  if (stacks.length === 0) throw new Error("at least one --stack is required");
  const duplicate = stacks.find((s, i) => stacks.indexOf(s) !== i);
  if (duplicate) throw new Error(`--stack ${duplicate} is given twice`);
  const kubeconfigFiles = new Map<string, string>();
  for (const pair of values["kubeconfig-file"] ?? []) {
    const at = pair.indexOf("=");
    const stack = pair.slice(0, at);
    if (at <= 0 || at === pair.length - 1) {
      throw new Error(`--kubeconfig-file takes <stack>=<path>, got ${pair}`);
    }
    if (!stacks.includes(stack))
      throw new Error(`--kubeconfig-file for ${stack}, which is no --stack`);
    kubeconfigFiles.set(stack, path.resolve(pair.slice(at + 1)));
  }
  return { stacks, kubeconfigFiles, out: values.out, workDir: path.resolve(values["work-dir"]) };
}

/**
 * Why a preview failed, for the report: the engine's error diagnostics if it sent any, else the
 * end of the CLI's stderr, else the error message. Never the CLI's stdout (the whole preview).
 */
function failureReason(err: unknown, events: readonly EngineEvent[]): string {
  const diagnostics = events
    .map((e) => e.diagnosticEvent)
    .filter((d) => d?.severity === "error")
    .map((d) => withoutStackTrace(plainText(`${d!.prefix ?? ""}${d!.message}`)).trim())
    .filter((m) => m.length > 0);
  if (diagnostics.length > 0) return [...new Set(diagnostics)].join("\n");
  return commandFailure(err);
}

/** Node's `    at f (file:line)` frames say nothing to a reviewer; the message above them does. */
function withoutStackTrace(text: string): string {
  return text
    .split("\n")
    .filter((line) => !/^\s+at .+/.test(line))
    .join("\n");
}

async function previewStack(
  stackName: string,
  workDir: string,
  kubeconfigFile: string | undefined,
): Promise<StackPreview> {
  const events: EngineEvent[] = [];
  const preview = async (configFile?: string) => {
    const stack = await LocalWorkspace.selectStack({ stackName, workDir });
    await stack.preview({
      refresh: true,
      diff: true,
      color: "never",
      configFile,
      onEvent: (event) => events.push(event),
    });
  };
  try {
    if (kubeconfigFile) await withScopedKubeconfig(workDir, stackName, kubeconfigFile, preview);
    else await preview();
    return { stack: stackName, events };
  } catch (err) {
    return { stack: stackName, error: failureReason(err, events) };
  }
}

async function main(): Promise<number> {
  let args: DriftArgs;
  try {
    args = parseDriftArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`drift: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return EXIT_COULD_NOT_RUN;
  }

  const previews: StackPreview[] = [];
  for (const [i, stack] of args.stacks.entries()) {
    process.stderr.write(`[${i + 1}/${args.stacks.length}] previewing ${stack} (refresh) ... `);
    const t0 = Date.now();
    const preview = await previewStack(stack, args.workDir, args.kubeconfigFiles.get(stack));
    const seconds = Math.round((Date.now() - t0) / 1000);
    process.stderr.write(
      "error" in preview ? `FAILED after ${seconds}s\n` : `done in ${seconds}s\n`,
    );
    previews.push(preview);
  }

  const report = renderDriftReport(previews);
  fs.writeFileSync(args.out, report);
  process.stdout.write(report);
  const code = driftExitCode(previews);
  process.stderr.write(
    `report written to ${args.out}; exit ${code} (${["clean", "changes or drift", "could not run"][code]})\n`,
  );
  return code;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`drift: could not run: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(EXIT_COULD_NOT_RUN);
  },
);
