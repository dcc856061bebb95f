// Why a rollout did not become ready, in the pods' own words: Helm's wait and Pulumi's await end
// with "context deadline exceeded", which names no cause. After a failed deploy the stage's pods
// that are not Ready, and the Warning events of pods during the run (an atomic release has rolled
// back and removed the failing pods by then), are read with the scoped kubeconfig (the deployer
// may read pods and events in its namespace) and their reasons named (ErrImagePull,
// CrashLoopBackOff, OOMKilled, ...). The formatting is pure; the unit tests pin it on objects.

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

/** The fields of a core/v1 Event this module reads. */
export interface EventLike {
  readonly type?: string;
  readonly reason?: string;
  readonly message?: string;
  readonly involvedObject?: {
    readonly kind?: string;
    readonly name?: string;
    readonly namespace?: string;
  };
  readonly lastTimestamp?: Date;
  readonly eventTime?: Date;
  readonly firstTimestamp?: Date;
}

/** One line per distinct Warning a pod got at or after `since`, oldest first. */
export function podWarnings(events: readonly EventLike[], since: Date): string[] {
  const at = (e: EventLike) => (e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp)?.getTime() ?? 0;
  const lines = events
    .filter(
      (e) => e.type === "Warning" && e.involvedObject?.kind === "Pod" && at(e) >= since.getTime(),
    )
    .sort((a, b) => at(a) - at(b))
    .map(
      (e) =>
        `pod ${e.involvedObject!.namespace}/${e.involvedObject!.name}: ${e.reason}: ${oneLine(e.message ?? "")}`,
    );
  return [...new Set(lines)];
}

/** The explanation appended to a failed deploy, or "" when nothing is wrong with the pods. */
export function describePodProblems(
  pods: readonly PodLike[],
  warnings: readonly string[] = [],
): string {
  const lines = pods.flatMap(podProblems);
  const parts: string[] = [];
  if (lines.length > 0) {
    parts.push(
      `Pods of the stage that are not ready (read with the scoped kubeconfig):\n${lines.map((l) => `  ${l}`).join("\n")}`,
    );
  }
  if (warnings.length > 0) {
    parts.push(
      `Warnings the stage's pods got during this deploy:\n${warnings.map((l) => `  ${l}`).join("\n")}`,
    );
  }
  return parts.join("\n");
}
