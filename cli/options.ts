// The flags shared by the subcommands: one name and one meaning for each concept, defined once.
import { Option } from "commander";
import { PROJECT_ROOT } from "./lib/paths";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export const stackOption = (description: string) => new Option("--stack <name>", description);

export const repeatableStackOption = (description: string) =>
  new Option("--stack <name>", description).argParser(collect);

export const stageOption = (description: string) => new Option("--stage <name>", description);

/**
 * Always collected, even where one stack is given: a second file for the same stack is then an
 * error (cli/lib/kubeconfigSource.ts) rather than silently replacing the first.
 */
export const kubeconfigFileOption = (severalStacks: boolean) =>
  new Option(
    "--kubeconfig-file <stack>=<path>",
    "the scoped kubeconfig of a single-stage stack, as Jenkins holds it (a file; never printed)" +
      (severalStacks ? "; repeat for each stack" : ""),
  ).argParser(collect);

export const workDirOption = () =>
  new Option("--work-dir <dir>", "the Pulumi project directory").default(
    PROJECT_ROOT,
    "the project root",
  );

export const outputOption = () =>
  new Option("--output <format>", "how to print the result")
    .choices(["text", "json"])
    .default("text");

export const yesOption = (description: string) => new Option("--yes", description);

export const outOption = (description: string) => new Option("--out <file>", description);

/** Options every subcommand has. */
export interface CommonOptions {
  readonly workDir: string;
}
