// Where a stage's scoped kubeconfig comes from, in one small place: today a file that Jenkins (or
// an operator) holds, given as `--kubeconfig-file <stack>=<path>`. Another source (say, a
// short-lived token from the CI's identity provider) is one more variant of KubeconfigSource.
import * as fs from "node:fs";
import * as path from "node:path";
import { CliError } from "../errors";

export type KubeconfigSource = {
  readonly kind: "file";
  readonly stack: string;
  readonly path: string;
};

/**
 * Parse one `--kubeconfig-file` value. The form is `<stack>=<path>` in every subcommand, so the
 * same flag means the same thing whether one stack or several are given.
 */
export function parseKubeconfigFile(value: string): KubeconfigSource {
  const at = value.indexOf("=");
  if (at <= 0 || at === value.length - 1) {
    throw new CliError(`--kubeconfig-file takes <stack>=<path>, got ${value}`);
  }
  return { kind: "file", stack: value.slice(0, at), path: path.resolve(value.slice(at + 1)) };
}

/**
 * The sources for the given stacks, keyed by stack. Each source must name one of `stacks`, and
 * no stack may have two.
 */
export function kubeconfigSourcesFor(
  stacks: readonly string[],
  values: readonly string[],
): Map<string, KubeconfigSource> {
  const sources = new Map<string, KubeconfigSource>();
  for (const value of values) {
    const source = parseKubeconfigFile(value);
    if (!stacks.includes(source.stack)) {
      throw new CliError(
        `--kubeconfig-file names stack ${source.stack}, which is not a --stack of this run`,
      );
    }
    if (sources.has(source.stack)) {
      throw new CliError(`--kubeconfig-file is given twice for stack ${source.stack}`);
    }
    sources.set(source.stack, source);
  }
  return sources;
}

/** The kubeconfig YAML. It stays in memory: never printed, never written anywhere else. */
export function readKubeconfig(source: KubeconfigSource): string {
  try {
    return fs.readFileSync(source.path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new CliError(`cannot read the kubeconfig file for stack ${source.stack} (${reason})`);
  }
}

/** Fail early, before any Pulumi run, when a kubeconfig file cannot be read. */
export function assertReadable(source: KubeconfigSource): void {
  try {
    fs.accessSync(source.path, fs.constants.R_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new CliError(`cannot read the kubeconfig file for stack ${source.stack} (${reason})`);
  }
}
