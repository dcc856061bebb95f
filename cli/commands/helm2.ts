// `scoped-cd helm2`: run one Helm v2 command against a stage whose Tiller runs locally
// (`tiller.mode: local`, the mode Helm's securing guide calls running Tiller locally). For the
// duration of the command a `tiller` process runs on this machine with the stage's scoped
// credential only, stores releases as Secrets in the stage namespace, listens on loopback on a
// free port, and is stopped afterwards (also when helm fails or we are interrupted). Helm's exit
// code is passed through.
//
// The kubeconfig comes from --kubeconfig-file or the access stack's secret `kubeconfigs` output
// (any credential kind: token and token-file users are handed over as is; an exec plugin of an
// API Tiller's client-go predates is run once first, see cli/lib/tillerKubeconfig.ts). It is written only to a 0600 file in a 0700 temporary directory that is removed
// afterwards, and reaches tiller and helm through KUBECONFIG: never argv, never a log line.
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES, StackOutputValues, StageSummary } from "../../components/outputs";
import { CliError } from "../errors";
import { ExitCode } from "../exitCodes";
import { Io } from "../io";
import { KubeconfigSource, kubeconfigSourcesFor, readKubeconfig } from "../lib/kubeconfigSource";
import { writePrivateFile } from "../lib/privateFile";
import { kubeconfigForTiller } from "../lib/tillerKubeconfig";
import { kubeconfigFileOption, stackOption, stageOption, workDirOption } from "../options";
import { stageTargets } from "./verify";

export interface Helm2Args {
  readonly stack: string;
  readonly stage?: string;
  readonly kubeconfig?: KubeconfigSource;
  readonly workDir: string;
  /** The Helm v2 client and Tiller binaries (names on PATH or paths). */
  readonly helm: string;
  readonly tiller: string;
  readonly helmArgs: readonly string[];
  /** How long Tiller may take to become ready. */
  readonly startTimeoutSeconds: number;
}

interface Helm2Options {
  stack?: string;
  stage?: string;
  kubeconfigFile?: string[];
  workDir: string;
  helmBinary: string;
  tillerBinary: string;
  startTimeout: string;
}

/**
 * Helm flags that would point the client at another Tiller, another cluster or credential, or
 * another Tiller namespace: this command chooses those itself.
 */
const OWNED_FLAGS = ["--host", "--kube-context", "--kubeconfig", "--tiller-namespace"];

export function defineHelm2(program: Command): Command {
  return program
    .command("helm2")
    .summary("run a Helm v2 command through a Tiller started locally for it")
    .description(
      "For a stage with tiller.mode local: start tiller on loopback with the stage's scoped kubeconfig only (releases as Secrets in the stage namespace), run helm with HELM_HOST pointing at it, stop tiller. Helm's arguments follow `--`.\n\nExit: helm's exit code; 2 when it could not run.",
    )
    .argument("<helm-args...>", "the Helm v2 command and its arguments, after --")
    .addOption(stackOption("the stack that declares the stage (access stack or delivery stack)"))
    .addOption(stageOption("the stage (needed when the stack has several)"))
    .addOption(kubeconfigFileOption(false))
    .addOption(workDirOption())
    .addOption(new Option("--helm-binary <path>", "the Helm v2 client").default("helm2"))
    .addOption(new Option("--tiller-binary <path>", "Tiller v2").default("tiller"))
    .addOption(
      new Option("--start-timeout <seconds>", "how long Tiller may take to start").default("30"),
    )
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd helm2 --stack test --kubeconfig-file test=/run/secrets/test.kubeconfig -- \\
      upgrade --install web ./charts/web
  $ scoped-cd helm2 --stack test-access --stage test -- ls
  $ scoped-cd helm2 --stack test-access --stage test -- rollback web 1`,
    );
}

export function helm2Args(opts: Helm2Options, helmArgs: readonly string[]): Helm2Args {
  if (!opts.stack) throw new CliError("--stack is required");
  if (helmArgs.length === 0) throw new CliError("give the helm command after --");
  for (const arg of helmArgs) {
    const flag = arg.split("=", 1)[0];
    if (OWNED_FLAGS.includes(flag)) {
      throw new CliError(
        `${flag} is chosen by scoped-cd helm2 (the local Tiller, the stage's kubeconfig); leave it out`,
      );
    }
  }
  const command = helmArgs.find((a) => !a.startsWith("-"));
  if (command === "reset" || (command === "init" && !helmArgs.includes("--client-only"))) {
    throw new CliError(
      `helm ${command} installs or removes an in-cluster Tiller; with a local Tiller only \`init --client-only\` applies`,
    );
  }
  const timeout = Number(opts.startTimeout);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600) {
    throw new CliError(
      `--start-timeout must be a whole number of seconds (1-600), got ${opts.startTimeout}`,
    );
  }
  const sources = kubeconfigSourcesFor([opts.stack], opts.kubeconfigFile ?? []);
  return {
    stack: opts.stack,
    stage: opts.stage,
    kubeconfig: sources.get(opts.stack),
    workDir: path.resolve(opts.workDir),
    helm: opts.helmBinary,
    tiller: opts.tillerBinary,
    helmArgs: [...helmArgs],
    startTimeoutSeconds: timeout,
  };
}

/** Refuse a stage that has no local Tiller: it would start one nobody declared. */
export function assertLocalTiller(stage: string, summary: StageSummary): void {
  const t = summary.tiller;
  if (t?.enabled === false) {
    throw new CliError(`stage ${stage} does not enable Tiller (tiller.enabled is false)`);
  }
  if (t?.enabled === true && t.mode !== "local") {
    throw new CliError(
      `stage ${stage} runs Tiller in the cluster (tiller.mode cluster): reach it with kubectl port-forward, or set tiller.mode local`,
    );
  }
}

/** What tiller is started with: the Deployment's flags, on loopback. No credential in it. */
export function tillerInvocation(
  namespace: string,
  ports: { grpc: number; probe: number },
  historyMax: number,
  kubeconfigFile: string,
): { args: string[]; env: Record<string, string> } {
  return {
    args: [
      "--storage=secret",
      `--listen=127.0.0.1:${ports.grpc}`,
      `--probe-listen=127.0.0.1:${ports.probe}`,
      `--history-max=${historyMax}`,
    ],
    // HOME: client-go's discovery cache goes to the temporary dir and is removed with it.
    env: {
      KUBECONFIG: kubeconfigFile,
      TILLER_NAMESPACE: namespace,
      HOME: path.dirname(kubeconfigFile),
    },
  };
}

/** A TCP port on loopback that nothing listens on now (for a Tiller of one command). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/readiness", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else child.once("exit", (code, signal) => resolve({ code, signal }));
  });

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = exited(child);
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await done;
  clearTimeout(timer);
}

export async function runHelm2(args: Helm2Args, io: Io): Promise<ExitCode> {
  if (args.kubeconfig) readKubeconfig(args.kubeconfig); // a missing file is a usage error
  const stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  const raw = await stack.outputs();
  const outputs: Partial<StackOutputValues> = {
    stages: raw[OUTPUT_NAMES.stages]?.value as Record<string, StageSummary> | undefined,
    kubeconfigs: raw[OUTPUT_NAMES.kubeconfigs]?.value as Record<string, string> | undefined,
  };
  const targets = stageTargets(
    {
      stack: args.stack,
      stage: args.stage,
      kubeconfig: args.kubeconfig,
      workDir: args.workDir,
      otherNamespace: "default",
      output: "text",
    },
    outputs,
  );
  if (targets.length !== 1) {
    throw new CliError(
      `stack ${args.stack} has stages ${targets.map((t) => t.stage).join(", ")}: add --stage`,
    );
  }
  const [target] = targets;
  assertLocalTiller(target.stage, target.summary);
  const namespace = target.summary.namespace;

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-helm2-")); // 0700
  const kubeconfigFile = path.join(dir, "kubeconfig");
  let tiller: ChildProcess | undefined;
  let helm: ChildProcess | undefined;
  const forward = (signal: NodeJS.Signals) => () => {
    if (helm) helm.kill(signal);
    else if (tiller) tiller.kill(signal);
  };
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  try {
    writePrivateFile(kubeconfigFile, kubeconfigForTiller(target.kubeconfig));
    const ports = { grpc: await freePort(), probe: await freePort() };
    const invocation = tillerInvocation(
      namespace,
      ports,
      target.summary.tiller?.historyMax ?? 10,
      kubeconfigFile,
    );
    const log: string[] = [];
    tiller = spawn(args.tiller, invocation.args, {
      env: { ...process.env, ...invocation.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const spawnError = new Promise<Error>((resolve) => tiller!.once("error", resolve));
    for (const stream of [tiller.stdout!, tiller.stderr!]) {
      stream.on("data", (chunk: Buffer) => log.push(...chunk.toString().split("\n")));
    }
    const deadline = Date.now() + args.startTimeoutSeconds * 1000;
    for (;;) {
      const failed = await Promise.race([
        spawnError,
        new Promise<undefined>((r) => setTimeout(r, 200)),
      ]);
      if (failed) throw new CliError(`cannot start ${args.tiller}: ${failed.message}`);
      if (tiller.exitCode !== null || tiller.signalCode !== null) {
        throw new CliError(
          `tiller exited before it was ready: ${log.filter(Boolean).slice(-3).join(" | ")}`,
        );
      }
      if (await ready(ports.probe)) break;
      if (Date.now() > deadline) {
        throw new CliError(`tiller was not ready within ${args.startTimeoutSeconds}s`);
      }
    }
    io.stderr(
      `scoped-cd helm2: Tiller ${invocation.args[1].slice("--listen=".length)} for namespace ${namespace} (stage ${target.stage})\n`,
    );

    helm = spawn(args.helm, args.helmArgs, {
      // KUBECONFIG: Helm v2 takes its default namespace (the stage's) from the current context.
      env: {
        ...process.env,
        HELM_HOST: `127.0.0.1:${ports.grpc}`,
        TILLER_NAMESPACE: namespace,
        KUBECONFIG: kubeconfigFile,
      },
      stdio: "inherit",
    });
    const helmError = new Promise<Error>((resolve) => helm!.once("error", resolve));
    const result = await Promise.race([exited(helm), helmError]);
    if (result instanceof Error) throw new CliError(`cannot run ${args.helm}: ${result.message}`);
    const signals = os.constants.signals as Record<string, number>;
    // Helm v2 exits 0 or 1; killed by a signal, we answer like a shell would (128 + signal).
    const code = result.signal ? 128 + (signals[result.signal] ?? 0) : (result.code ?? 1);
    return code as ExitCode;
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
    if (tiller) await stop(tiller);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
