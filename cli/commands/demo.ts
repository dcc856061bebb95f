// `scoped-cd demo` (npm run demo): get the offline toolchain and the local cluster ready
// (hack/lib/local-cluster-env.sh), deploy the dev stack with the real Pulumi CLI, print its stages,
// write the scoped kubeconfig to a 0600 file, show with kubectl what that identity may and may not
// do, and show the storefront answering HTTP inside its stage (a probe Job that the scoped identity
// creates, reads the log of and deletes -- the deployer makes workloads, never bare pods; it runs
// on the local cluster's real node).
import { execFileSync, spawnSync } from "node:child_process";
import * as path from "node:path";
import { Command, Option } from "commander";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES } from "../../components/outputs";
import { CliError, commandFailure } from "../errors";
import { EXIT_OK, ExitCode } from "../exitCodes";
import { Io, OutputFormat, writeJson } from "../io";
import { PROJECT_ROOT } from "../lib/paths";
import { attackSummary, isFailure, runAttacks } from "../lib/verify/attacks";
import { writePrivateFile } from "../lib/privateFile";
import { renderStagesTable, stagesOf } from "../lib/stages";
import { outOption, outputOption, stackOption, workDirOption } from "../options";

/** The demo stack's secrets are encrypted with this passphrase: for the local demo only. */
const DEMO_PASSPHRASE = "scoped-cd-local-demo";

export interface DemoArgs {
  readonly stack: string;
  readonly out: string;
  readonly workDir: string;
  readonly localEnv: boolean;
  readonly output: OutputFormat;
}

interface DemoOptions {
  stack: string;
  out?: string;
  workDir: string;
  localEnv: boolean;
  output: OutputFormat;
}

export function defineDemo(program: Command): Command {
  return program
    .command("demo")
    .summary("local cluster + real Pulumi: deploy the dev stack through the scoped identity")
    .description(
      "Build the offline toolchain if needed, start the local cluster, `pulumi up` the dev stack, print its stages, write the scoped kubeconfig to a 0600 file and show with kubectl that the scoped identity may deploy in its namespace and nowhere else.\n\nExit: 0 as expected, 1 an answer was not, 2 could not run.",
    )
    .addOption(stackOption("the demo stack").default("dev"))
    .addOption(
      outOption("where to write the scoped kubeconfig (default: .local/<stack>.kubeconfig)"),
    )
    .addOption(new Option("--no-local-env", "use the Pulumi CLI and KUBECONFIG already set up"))
    .addOption(workDirOption())
    .addOption(outputOption())
    .addHelpText(
      "after",
      `
Examples:
  $ npm run demo
  $ scoped-cd demo --output json`,
    );
}

export function demoArgs(opts: DemoOptions): DemoArgs {
  const workDir = path.resolve(opts.workDir);
  return {
    stack: opts.stack,
    out: path.resolve(opts.out ?? path.join(workDir, ".local", `${opts.stack}.kubeconfig`)),
    workDir,
    localEnv: opts.localEnv,
    output: opts.output,
  };
}

/**
 * Take over the environment hack/lib/local-cluster-env.sh exports (PATH with the toolchain,
 * PULUMI_HOME, the file backend, the local cluster's KUBECONFIG): the shell scripts stay the one
 * place that knows how to build and start them.
 */
function adoptLocalEnv(io: Io): void {
  const script = path.join(PROJECT_ROOT, "hack", "lib", "local-cluster-env.sh");
  const result = spawnSync("bash", ["-c", 'source "$1" >&2 && env -0', "bash", script], {
    cwd: PROJECT_ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new CliError(
      `preparing the toolchain and local cluster failed (exit ${result.status}): see above`,
    );
  }
  for (const entry of result.stdout.toString("utf8").split("\0")) {
    const at = entry.indexOf("=");
    if (at > 0) process.env[entry.slice(0, at)] = entry.slice(at + 1);
  }
  io.stderr("== toolchain and local cluster ready\n");
}

type Answer = "allowed" | "forbidden";

/** Run kubectl with the scoped kubeconfig; print the command and its answer, yes or forbidden. */
function scopedKubectl(io: Io, kubeconfigFile: string, what: string, args: string[]): Answer {
  const shown = `kubectl --kubeconfig ${path.relative(process.cwd(), kubeconfigFile)} ${args.join(" ")}`;
  try {
    const out = execFileSync("kubectl", ["--kubeconfig", kubeconfigFile, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    io.stderr(`\n$ ${shown}\n${out.trim()}\n=> ${what}: allowed\n`);
    return "allowed";
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
    io.stderr(`\n$ ${shown}\n${stderr}\n=> ${what}: forbidden\n`);
    if (!/forbidden/i.test(stderr)) throw new CliError(`unexpected kubectl failure: ${stderr}`);
    return "forbidden";
  }
}

/** The probe Job: busybox's nc asks the stage's storefront Service for its page, then exits. */
const STOREFRONT_PROBE = "demo-storefront-probe";
function storefrontProbeJob(namespace: string) {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: STOREFRONT_PROBE, namespace },
    spec: { backoffLimit: 0, template: { spec: storefrontProbePodSpec() } },
  };
}
function storefrontProbePodSpec() {
  return {
    restartPolicy: "Never",
    automountServiceAccountToken: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65534,
      seccompProfile: { type: "RuntimeDefault" },
    },
    containers: [
      {
        name: "probe",
        // hack/toolchain.sh images: the local node's busybox image (nothing is pulled).
        image: "scoped-cd.local/probe:1",
        imagePullPolicy: "Never",
        command: ["sh", "-c", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 storefront 80"],
        resources: { limits: { cpu: "100m", memory: "32Mi" } },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        },
      },
    ],
  };
}

/** The storefront's answer to a pod of its stage: the status line, as the scoped identity sees it. */
function storefrontAnswer(io: Io, kubeconfigFile: string, namespace: string): string {
  const kubectl = (args: string[], input?: string) =>
    execFileSync("kubectl", ["--kubeconfig", kubeconfigFile, "-n", namespace, ...args], {
      encoding: "utf8",
      input,
      stdio: ["pipe", "pipe", "pipe"],
      timeout: 90_000,
    });
  const file = path.relative(process.cwd(), kubeconfigFile);
  const remove = (wait: boolean) =>
    kubectl(["delete", "job", STOREFRONT_PROBE, "--ignore-not-found", `--wait=${wait}`]);
  remove(true);
  try {
    kubectl(["create", "-f", "-"], JSON.stringify(storefrontProbeJob(namespace)));
    kubectl(["wait", `job/${STOREFRONT_PROBE}`, "--for=condition=Complete", "--timeout=60s"]);
    const answer = kubectl(["logs", `job/${STOREFRONT_PROBE}`]);
    const status = answer.split(/\r?\n/)[0].trim();
    io.stderr(
      `\n$ kubectl --kubeconfig ${file} -n ${namespace} logs job/${STOREFRONT_PROBE}   # a Job that asked http://storefront/\n${status}\n=> the storefront answers inside its stage\n`,
    );
    return status;
  } catch (err) {
    const why = String((err as { stderr?: string }).stderr || err).trim();
    throw new CliError(`the storefront did not answer the probe pod in ${namespace}: ${why}`, 1);
  } finally {
    remove(false);
  }
}

export async function runDemo(args: DemoArgs, io: Io): Promise<ExitCode> {
  if (args.localEnv) adoptLocalEnv(io);
  process.env.PULUMI_CONFIG_PASSPHRASE ??= DEMO_PASSPHRASE;
  const progress = args.output === "json" ? io.stderr : io.stdout;

  const stack = await LocalWorkspace.createOrSelectStack({
    stackName: args.stack,
    workDir: args.workDir,
  });
  progress(`== pulumi up (stack ${args.stack})\n`);
  let outputs;
  try {
    outputs = (await stack.up({ color: "never", onOutput: progress })).outputs;
  } catch (err) {
    throw new CliError(`pulumi up of stack ${args.stack} failed:\n${commandFailure(err)}`);
  }
  const stages = stagesOf(outputs);

  // Written straight to a 0600 file: the kubeconfig never passes through a terminal or log.
  const kubeconfigs = (outputs[OUTPUT_NAMES.kubeconfigs]?.value ?? {}) as Record<string, string>;
  const stage = Object.keys(stages)[0];
  if (!stage || !kubeconfigs[stage])
    throw new CliError(`stack ${args.stack} exports no scoped kubeconfig`);
  writePrivateFile(args.out, kubeconfigs[stage]);
  progress(
    `\n== scoped kubeconfig written to ${path.relative(process.cwd(), args.out)} (mode 0600)\n`,
  );

  const namespace = stages[stage].namespace;
  const probes: { what: string; expected: Answer; args: string[] }[] = [
    {
      what: `create a Deployment in ${namespace}`,
      expected: "allowed",
      args: [
        "create",
        "deployment",
        "demo-probe",
        "--image=registry.k8s.io/pause:3.10",
        "-n",
        namespace,
        "--dry-run=server",
      ],
    },
    {
      what: "list pods in kube-system",
      expected: "forbidden",
      args: ["get", "pods", "-n", "kube-system"],
    },
    {
      what: "create a ClusterRoleBinding",
      expected: "forbidden",
      args: [
        "create",
        "clusterrolebinding",
        "demo-probe",
        "--clusterrole=cluster-admin",
        `--serviceaccount=${namespace}:default`,
        "--dry-run=server",
      ],
    },
  ];
  const answers = probes.map((p) => ({
    what: p.what,
    expected: p.expected,
    actual: scopedKubectl(io, args.out, p.what, p.args),
  }));
  const storefront = stages[stage].releases.storefront
    ? storefrontAnswer(io, args.out, namespace)
    : undefined;
  // The catalogue of `verify --attacks`, as the scoped identity (the kubeconfig stays in memory).
  const attempts = await runAttacks({
    stack: args.stack,
    stage,
    summary: stages[stage],
    kubeconfig: kubeconfigs[stage],
    otherNamespace: "default",
  });
  const attacks = { summary: attackSummary(attempts), allowed: attempts.filter(isFailure) };
  const ok =
    attacks.allowed.length === 0 &&
    answers.every((a) => a.actual === a.expected) &&
    (storefront === undefined || /^HTTP\/1\.[01] 200\b/.test(storefront));

  if (args.output === "json") {
    writeJson(io, {
      stack: args.stack,
      stages,
      kubeconfigFile: args.out,
      answers,
      storefront,
      attacks,
      ok,
    });
  } else {
    io.stdout(`\n== stages output\n${renderStagesTable(stages)}\n`);
    io.stdout(`\n== answers: ${answers.map((a) => a.actual).join(" / ")}\n`);
    if (storefront) io.stdout(`== storefront: ${storefront}\n`);
    io.stdout(`== escape attempts (verify --attacks): ${attacks.summary}\n`);
    for (const a of attacks.allowed) io.stdout(`   ${a.outcome}: ${a.id} (${a.answer})\n`);
  }
  if (!ok) {
    throw new CliError(`expected ${answers.map((a) => a.expected).join(" / ")}`, 1);
  }
  return EXIT_OK;
}
