// The kubeconfig a Helm v2 Tiller can use. Tiller v2.17 is built on client-go 1.16, which knows
// exec credential plugins only as client.authentication.k8s.io/v1alpha1 and v1beta1; the OIDC
// kubeconfig (any kubeconfig written for a current kubectl) asks for v1. For such a user the
// plugin is run once, here, as client-go would run it, and its token is put in the user's place:
// the result only ever goes to the 0600 file Tiller reads, for one short command. Token, token
// file and older exec users are passed through unchanged.
import { execFileSync } from "node:child_process";
import * as yaml from "js-yaml";
import { CliError } from "../errors";

const OLD_EXEC_APIS = [
  "client.authentication.k8s.io/v1alpha1",
  "client.authentication.k8s.io/v1beta1",
];

export interface ExecSpec {
  readonly command: string;
  readonly args?: readonly string[];
  readonly env?: readonly { name: string; value: string }[] | null;
}

/** Runs an exec plugin and returns its stdout (the ExecCredential JSON). */
export type ExecRunner = (spec: ExecSpec) => string;

export const runExecPlugin: ExecRunner = (spec) =>
  execFileSync(spec.command, [...(spec.args ?? [])], {
    env: { ...process.env, ...Object.fromEntries((spec.env ?? []).map((e) => [e.name, e.value])) },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 60_000,
  }).toString("utf8");

interface KubeconfigDoc {
  "current-context"?: string;
  contexts?: { name: string; context: { user: string } }[];
  users?: { name: string; user: Record<string, unknown> }[];
}

export function kubeconfigForTiller(text: string, run: ExecRunner = runExecPlugin): string {
  const doc = yaml.load(text) as KubeconfigDoc;
  const context = doc.contexts?.find((c) => c.name === doc["current-context"]);
  const entry = doc.users?.find((u) => u.name === context?.context.user);
  const exec = entry?.user.exec as (ExecSpec & { apiVersion?: string }) | undefined;
  if (!entry || !exec || OLD_EXEC_APIS.includes(exec.apiVersion ?? "")) return text;
  let token: unknown;
  try {
    token = (JSON.parse(run(exec)) as { status?: { token?: unknown } }).status?.token;
  } catch (err) {
    // Not the plugin's output (it may carry the token): only that it failed, and how.
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().split("\n")[0];
    throw new CliError(
      `the kubeconfig's exec credential plugin failed${stderr ? `: ${stderr}` : ""}`,
    );
  }
  if (typeof token !== "string" || token === "") {
    throw new CliError("the kubeconfig's exec credential plugin returned no token");
  }
  entry.user = { token };
  return yaml.dump(doc);
}
