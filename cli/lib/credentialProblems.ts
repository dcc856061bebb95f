// Why a run against the API server failed, when the reason is the credential or the connection:
// the scoped kubeconfig refused (401: rotated away or expired; 403: the identity lost its grant),
// the server unreachable, or a server certificate that is not trusted. `deploy`, `drift` and
// `verify` turn such a failure into one message that names the problem and the step that fixes
// it (for a dead scoped credential: the operators' hand-over, `scoped-cd handoff`, and the Jenkins
// credential update), instead of a client or engine stack trace. Pure text in, text out: the unit
// tests pin the classification on the messages the real tools print.
import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { stackConfigFileName } from "./scopedConfig";

export type CredentialProblemKind = "unauthorized" | "forbidden" | "unreachable" | "untrusted";

export interface CredentialProblem {
  readonly kind: CredentialProblemKind;
  /** The line (or fragment) of the failure that shows it, for the message; never a credential. */
  readonly evidence: string;
  /** The API server named by the failure, when it names one (host:port or URL). */
  readonly server?: string;
}

// Ordered: a 401 reported as "Kubernetes cluster unreachable: the server has asked for the client
// to provide credentials" (Helm) is a credential problem, not a connection problem.
const PATTERNS: readonly { kind: CredentialProblemKind; re: RegExp }[] = [
  {
    kind: "unauthorized",
    re: /\bUnauthorized\b|asked for the client to provide credentials|(?:status code|HTTP-Code:?|code:?)\s*401\b|\b401 Unauthorized/i,
  },
  {
    kind: "forbidden",
    re: /\bis forbidden: User "[^"]*" cannot|(?:status code|HTTP-Code:?|code:?)\s*403\b|\b403 Forbidden/i,
  },
  {
    kind: "untrusted",
    re: /x509: |certificate signed by unknown authority|self[- ]signed certificate/i,
  },
  {
    kind: "unreachable",
    re: /unreachable cluster|connect: connection refused|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|i\/o timeout|no such host|ENOTFOUND|connection reset by peer|Kubernetes cluster unreachable|the server is currently unable to handle the request|socket hang up|server misbehaving|net\/http: TLS handshake timeout/i,
  },
];

/** A secret-looking token in a line (bearer tokens, JWTs, long base64) is replaced. */
function redact(line: string): string {
  return line
    .replace(/Bearer\s+\S+/gi, "Bearer <redacted>")
    .replace(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, "<redacted jwt>")
    .replace(/[A-Za-z0-9+/=]{80,}/g, "<redacted>");
}

/** The server a failure names: an https URL, else the host:port of a `dial tcp` or `connect`. */
export function serverNamed(text: string): string | undefined {
  const url = /https:\/\/[A-Za-z0-9.[\]:-]+(?::\d+)?/.exec(text)?.[0];
  if (url) return url;
  const dial = /(?:dial tcp|connect \w+)\s+\[?([A-Za-z0-9.:-]+?)\]?:(\d+)/.exec(text);
  return dial ? `${dial[1]}:${dial[2]}` : undefined;
}

/** Classify a failure's text (engine diagnostics, CLI stderr or a client error message). */
export function credentialProblemOf(text: string): CredentialProblem | undefined {
  const lines = text.split("\n");
  for (const { kind, re } of PATTERNS) {
    const line = lines.find((l) => re.test(l));
    if (line !== undefined) {
      const evidence = redact(line.trim()).slice(0, 300);
      return { kind, evidence, server: serverNamed(line) ?? serverNamed(text) };
    }
  }
  return undefined;
}

/** Client-node errors carry the HTTP status as `code` and the Status body; classify those too. */
export function credentialProblemOfError(err: unknown): CredentialProblem | undefined {
  const e = err as { code?: unknown; body?: unknown; message?: unknown } | undefined;
  const message = String(e?.message ?? err);
  if (e?.code === 401) return { kind: "unauthorized", evidence: "" };
  if (e?.code === 403) {
    const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body ?? "");
    const status = /"message"\s*:\s*"((?:[^"\\]|\\.)*)"/.exec(body)?.[1];
    return { kind: "forbidden", evidence: redact(status ?? "").slice(0, 300) };
  }
  if (typeof e?.code === "string" && /^E[A-Z]+$/.test(e.code)) {
    return credentialProblemOf(`${e.code} ${message}`);
  }
  return credentialProblemOf(message);
}

/** Where a delivery stack's scoped credential comes from, for the remedy. */
export interface ScopedCredentialContext {
  /** The delivery stack that was run. */
  readonly stack: string;
  /** Its stages (the hand-over is per stage). */
  readonly stages: readonly string[];
  /** `scoped-cd:accessStack` of the stack, when it names one. */
  readonly accessStack?: string;
  /** Where the kubeconfig came from: a --kubeconfig-file path, or the access stack's output. */
  readonly source: "file" | "access-stack";
}

/** The hand-over step that gives a delivery stack a working scoped kubeconfig again. */
export function handoverStep(ctx: ScopedCredentialContext): string {
  const access = ctx.accessStack ?? "<env>-access";
  const stage = ctx.stages.length === 1 ? ctx.stages[0] : "<stage>";
  const handoff = `scoped-cd handoff --stack ${access} --stage ${stage}`;
  return ctx.source === "file"
    ? `an operator runs \`${handoff}\` (a fresh token from the access stack's up) and updates the Jenkins credential scoped-cd-kubeconfig-${stage} with the file it writes; then rerun`
    : `an operator runs \`${handoff}\` (the access stack's up mints a fresh token into its kubeconfigs output); then rerun`;
}

/**
 * One message for a delivery stack's failed run whose cause is a credential or connection
 * problem: what was refused, by which server, why that usually happens, and what to run.
 */
export function describeScopedProblem(p: CredentialProblem, ctx: ScopedCredentialContext): string {
  const at = p.server ? ` at ${p.server}` : "";
  const shown = p.evidence ? ` (${p.evidence})` : "";
  const which = `the scoped kubeconfig of stack ${ctx.stack}${ctx.stages.length === 1 ? ` (stage ${ctx.stages[0]})` : ""}`;
  switch (p.kind) {
    case "unauthorized":
      return (
        `the API server${at} refused ${which}: 401 Unauthorized${shown}. ` +
        `Its deployer credential was rotated away, revoked or has expired. Fix: ${handoverStep(ctx)}.`
      );
    case "forbidden":
      return (
        `the API server${at} authenticated ${which} but refused it: 403 Forbidden${shown}. ` +
        `The identity lost its grant (RoleBinding deleted, or a rotation replaced the identity) or ` +
        `the stage is not deployed by its access stack. Fix: ${handoverStep(ctx)}.`
      );
    case "untrusted":
      return (
        `the API server${at} presented a certificate that ${which} does not trust${shown}. ` +
        `The cluster's CA changed or the kubeconfig points at another server. Fix: ${handoverStep(ctx)}.`
      );
    case "unreachable":
      return (
        `could not reach the API server${at}${shown}. The credential was not the problem: ` +
        `check that the cluster is up and reachable from this agent, then rerun (a rerun converges; ` +
        `see docs/operations.md#failure-and-recovery).`
      );
  }
}

/**
 * Ask the API server whether it accepts a kubeconfig (SelfSubjectReview, which any authenticated
 * identity may create): undefined when it does, else the problem. The Kubernetes provider reports a
 * refused credential during refresh as an "unreachable cluster"; this tells the two apart.
 */
export async function probeCredential(
  kubeconfigYaml: string,
): Promise<CredentialProblem | undefined> {
  const { AuthenticationV1Api, KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfigYaml);
  const server = kc.getCurrentCluster()?.server;
  try {
    await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    return undefined;
  } catch (err) {
    const problem = credentialProblemOfError(err) ?? {
      kind: "unreachable" as const,
      evidence: (err instanceof Error ? err.message : String(err)).split("\n")[0],
    };
    return { ...problem, server: problem.server ?? server };
  }
}

/**
 * For a delivery stack's failed run (drift's preview): the hand-over message when the failure is
 * a credential or connection problem, else undefined. With the kubeconfig at hand, the API server
 * is asked which it is (probeCredential). The stack's stages and accessStack come from its
 * committed `Pulumi.<stack>.yaml` in `workDir` (not needed to run, only to name the step).
 */
export async function deliveryCredentialHint(
  failure: string,
  stack: string,
  workDir: string,
  kubeconfigYaml: string | undefined,
): Promise<string | undefined> {
  let problem = credentialProblemOf(failure);
  if (!problem) return undefined;
  if (kubeconfigYaml !== undefined) problem = (await probeCredential(kubeconfigYaml)) ?? problem;
  let config: Record<string, unknown> = {};
  try {
    const file = path.join(workDir, stackConfigFileName(stack));
    const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    config = doc?.config ?? {};
  } catch {
    // no stack file: the remedy names placeholders
  }
  if ((config["scoped-cd:mode"] ?? "all") !== "delivery") return undefined;
  const stages = config["scoped-cd:stages"];
  const accessStack = config["scoped-cd:accessStack"];
  return describeScopedProblem(problem, {
    stack,
    stages: stages && typeof stages === "object" ? Object.keys(stages) : [],
    accessStack: typeof accessStack === "string" ? accessStack : undefined,
    source: kubeconfigYaml !== undefined ? "file" : "access-stack",
  });
}
