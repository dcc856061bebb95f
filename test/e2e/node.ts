// The real node of the local cluster (hack/lib/node.sh): probe pods that send traffic from inside
// the harness's network namespaces only, and the topology facts hack/cluster.sh exports.
import { execFileAsync, kubectl, requireEnv, waitFor } from "./support";

/** Where the harness put things (hack/cluster.sh env); fails when the node is not a real one. */
export function realNode() {
  if (process.env.SCOPED_CD_NODE_KIND !== "real") {
    throw new Error(
      "the local cluster has no real node (SCOPED_CD_NODE_KIND is not 'real'): run through hack/e2e.sh",
    );
  }
  return {
    name: requireEnv("SCOPED_CD_NODE_NAME"),
    netns: requireEnv("SCOPED_CD_NODE_NETNS"),
    sentinelNetns: requireEnv("SCOPED_CD_SENTINEL_NETNS"),
    metadataIp: requireEnv("SCOPED_CD_METADATA_IP"),
    linkLocalIp: requireEnv("SCOPED_CD_LINK_LOCAL_IP"),
    extAllowedIp: requireEnv("SCOPED_CD_EXT_ALLOWED_IP"),
    extDeniedIp: requireEnv("SCOPED_CD_EXT_DENIED_IP"),
    sentinelIp: requireEnv("SCOPED_CD_SENTINEL_IP"),
    hostSentinelIp: requireEnv("SCOPED_CD_HOST_SENTINEL_IP"),
  };
}

/** The image of probe pods (hack/toolchain.sh images): busybox's sh, nc, nslookup, httpd. */
export const PROBE_IMAGE = "scoped-cd.local/probe:1";

/** A pod that sleeps and lets the harness run probes in it; fits `restricted` Pod Security. */
export function probePod(
  namespace: string,
  name: string,
  opts: { labels?: Record<string, string>; automountToken?: boolean; command?: string[] } = {},
) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace, labels: { app: "probe", ...opts.labels } },
    spec: {
      automountServiceAccountToken: opts.automountToken ?? false,
      terminationGracePeriodSeconds: 0,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65534,
        runAsGroup: 65534,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "probe",
          image: PROBE_IMAGE,
          imagePullPolicy: "Never",
          command: opts.command ?? ["sleep", "3600"],
          resources: {
            requests: { cpu: "10m", memory: "16Mi" },
            limits: { cpu: "100m", memory: "32Mi" },
          },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  };
}

/** A Deployment (of the probe pod's name and namespace) whose pods are the probe pod given. */
export function probeDeployment(pod: ReturnType<typeof probePod>, replicas: number) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: "probe" } },
      template: { metadata: { labels: pod.metadata.labels }, spec: pod.spec },
    },
  };
}

/** Wait until a pod runs and is Ready; resolves with its IP. */
export async function podReady(admin: string, namespace: string, name: string, seconds = 90) {
  return waitFor(`pod ${namespace}/${name} to be Ready`, seconds, async () => {
    const pod = JSON.parse(await kubectl(admin, "get", "pod", name, "-n", namespace, "-o", "json"));
    const ready = (pod.status?.conditions ?? []).some(
      (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
    );
    return ready ? (pod.status.podIP as string) : undefined;
  });
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a shell script in a pod's container (the harness's admin credential opens the exec; the
 * traffic the script sends starts inside the pod's network namespace).
 */
export async function execIn(
  admin: string,
  namespace: string,
  pod: string,
  script: string,
): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await execFileAsync(
      "kubectl",
      ["--kubeconfig", admin, "exec", "-n", namespace, pod, "--", "sh", "-c", script],
      { timeout: 30_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw err;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** An HTTP GET from inside a pod (busybox nc, 3 s connect timeout): the status line or "". */
export async function httpFrom(
  admin: string,
  namespace: string,
  pod: string,
  host: string,
  port = 80,
  path = "/",
): Promise<{ status: string; body: string; error: string }> {
  const r = await execIn(
    admin,
    namespace,
    pod,
    `printf 'GET ${path} HTTP/1.0\\r\\nHost: ${host}\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`,
  );
  const [head = "", ...rest] = r.stdout.split("\r\n\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? "";
  return { status, body: rest.join("\r\n\r\n"), error: r.stderr.trim() };
}

/**
 * Whether a TCP connection from inside a pod to host:port opens (3 s timeout). Refusals by the
 * policy engine show as "Connection refused" or, when the kernel rate-limits its rejects, as a
 * timeout: both are "not reachable".
 */
export async function tcpOpens(
  admin: string,
  namespace: string,
  pod: string,
  host: string,
  port: number,
): Promise<{ open: boolean; detail: string }> {
  const r = await execIn(admin, namespace, pod, `echo | nc -w 3 ${host} ${port}`);
  return { open: r.code === 0, detail: r.stderr.trim() || `exit ${r.code}` };
}

/** A command in one of the harness's network namespaces (host-side checks, never a probe out). */
export async function inNetns(netns: string, ...argv: string[]): Promise<string> {
  const { stdout } = await execFileAsync("ip", ["netns", "exec", netns, ...argv], {
    timeout: 30_000,
  });
  return stdout;
}
