// Why a rollout did not become ready, in the pods' own words: Helm's wait and Pulumi's await end
// with "timed out waiting for the condition", which names no cause. After a failed deploy the
// stage's pods that are not Ready are read with the scoped kubeconfig (the deployer may list pods
// in its namespace) and each container's waiting or terminated reason is named (ErrImagePull,
// CrashLoopBackOff, OOMKilled, ...). The formatting is pure; the unit tests pin it on pod objects.

/** The fields of a V1Pod this module reads (client-node's type is wider). */
export interface PodLike {
  readonly metadata?: { readonly name?: string; readonly namespace?: string };
  readonly status?: {
    readonly phase?: string;
    readonly reason?: string;
    readonly message?: string;
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
    readonly initContainerStatuses?: readonly ContainerStatusLike[];
    readonly containerStatuses?: readonly ContainerStatusLike[];
  };
}

interface ContainerStatusLike {
  readonly name: string;
  readonly ready?: boolean;
  readonly state?: {
    readonly waiting?: { readonly reason?: string; readonly message?: string };
    readonly terminated?: {
      readonly reason?: string;
      readonly exitCode?: number;
      readonly message?: string;
    };
  };
  readonly lastState?: {
    readonly terminated?: { readonly reason?: string; readonly exitCode?: number };
  };
}

const oneLine = (s: string) => s.replace(/\s+/g, " ").trim();

/** One line per container that keeps its pod from being Ready; [] for a Ready pod. */
export function podProblems(pod: PodLike): string[] {
  const ready = pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  if (ready || pod.status?.phase === "Succeeded") return [];
  const where = `pod ${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const lines: string[] = [];
  const statuses = [
    ...(pod.status?.initContainerStatuses ?? []).map((s) => ({ s, kind: "init container" })),
    ...(pod.status?.containerStatuses ?? []).map((s) => ({ s, kind: "container" })),
  ];
  for (const { s, kind } of statuses) {
    if (s.ready) continue;
    const waiting = s.state?.waiting;
    const terminated = s.state?.terminated;
    const last = s.lastState?.terminated;
    let why: string | undefined;
    if (waiting?.reason) {
      why = waiting.reason + (waiting.message ? `: ${oneLine(waiting.message)}` : "");
      if (last?.reason) why += ` (last exit: ${last.reason}, code ${last.exitCode})`;
    } else if (terminated && terminated.exitCode !== 0) {
      why = `${terminated.reason ?? "terminated"}, exit code ${terminated.exitCode}`;
    }
    if (why) lines.push(`${where} ${kind} ${s.name}: ${why}`);
  }
  if (lines.length === 0) {
    const reason = pod.status?.reason ?? pod.status?.phase ?? "not ready";
    lines.push(
      `${where}: ${reason}${pod.status?.message ? `: ${oneLine(pod.status.message)}` : ""}`,
    );
  }
  return lines;
}

/** The explanation appended to a failed deploy, or "" when every pod is Ready. */
export function describePodProblems(pods: readonly PodLike[]): string {
  const lines = pods.flatMap(podProblems);
  return lines.length === 0
    ? ""
    : `Pods of the stage that are not ready (read with the scoped kubeconfig):\n${lines.map((l) => `  ${l}`).join("\n")}`;
}
