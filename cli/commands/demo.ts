// `npm run demo` (after scripts/demo.sh has the toolchain and the local cluster ready): deploy the
// dev stack with the real Pulumi CLI, print its stages, write the scoped kubeconfig to a 0600
// file, and show with kubectl what that identity may and may not do.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";

const REPO = path.resolve(__dirname, "../..");
const STACK = "dev";
const KUBECONFIG_FILE = path.join(REPO, ".local", `${STACK}.kubeconfig`);

interface StageSummary {
  namespace: string;
  serviceAccount: string | null;
  rotation: string | null;
  tiller: { enabled: boolean | null; namespace: string | null };
  releases: Record<string, { chart: string; version: string; status: string; revision: number }>;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ")).join("\n");
}

function stagesTable(stages: Record<string, StageSummary>): string {
  const rows = [
    [
      "STAGE",
      "NAMESPACE",
      "DEPLOYER",
      "ROTATION",
      "TILLER",
      "RELEASE",
      "CHART",
      "VERSION",
      "STATUS",
      "REV",
    ],
  ];
  for (const [stage, s] of Object.entries(stages)) {
    const releases = Object.entries(s.releases);
    for (const [name, r] of releases.length ? releases : [["-", undefined] as const]) {
      rows.push([
        stage,
        s.namespace,
        s.serviceAccount ?? "-",
        s.rotation ?? "-",
        s.tiller.enabled ? `on (${s.tiller.namespace})` : "off",
        name,
        r?.chart ?? "-",
        r?.version ?? "-",
        r?.status ?? "-",
        r ? String(r.revision) : "-",
      ]);
    }
  }
  return table(rows);
}

/** Run kubectl with the scoped kubeconfig; print the command and its answer, yes or forbidden. */
function scopedKubectl(what: string, args: string[]): "allowed" | "forbidden" {
  const shown = `kubectl --kubeconfig .local/${STACK}.kubeconfig ${args.join(" ")}`;
  try {
    const out = execFileSync("kubectl", ["--kubeconfig", KUBECONFIG_FILE, ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    console.log(`\n$ ${shown}\n${out.trim()}\n=> ${what}: allowed`);
    return "allowed";
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
    console.log(`\n$ ${shown}\n${stderr}\n=> ${what}: forbidden`);
    if (!/forbidden/i.test(stderr)) {
      throw new Error(`unexpected kubectl failure: ${stderr}`, { cause: err });
    }
    return "forbidden";
  }
}

async function main() {
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: STACK, workDir: REPO });
  console.log(`== pulumi up (stack ${STACK})`);
  const up = await stack.up({ onOutput: (out) => process.stdout.write(out) });

  console.log("\n== stages output");
  console.log(stagesTable(up.outputs.stages.value as Record<string, StageSummary>));

  // Written straight to a 0600 file: the kubeconfig never passes through a terminal or log.
  const kubeconfigs = up.outputs.kubeconfigs.value as Record<string, string>;
  fs.mkdirSync(path.dirname(KUBECONFIG_FILE), { recursive: true });
  fs.writeFileSync(KUBECONFIG_FILE, kubeconfigs[STACK], { mode: 0o600 });
  fs.chmodSync(KUBECONFIG_FILE, 0o600);
  console.log(`\n== scoped kubeconfig written to .local/${STACK}.kubeconfig (mode 0600)`);

  const namespace = (up.outputs.stages.value as Record<string, StageSummary>)[STACK].namespace;
  const answers = [
    scopedKubectl(`create a Deployment in ${namespace}`, [
      "create",
      "deployment",
      "demo-probe",
      "--image=registry.k8s.io/pause:3.10",
      "-n",
      namespace,
      "--dry-run=server",
    ]),
    scopedKubectl("list pods in kube-system", ["get", "pods", "-n", "kube-system"]),
    scopedKubectl("create a ClusterRoleBinding", [
      "create",
      "clusterrolebinding",
      "demo-probe",
      "--clusterrole=cluster-admin",
      "--serviceaccount=" + namespace + ":default",
      "--dry-run=server",
    ]),
  ];
  const expected = ["allowed", "forbidden", "forbidden"];
  console.log(`\n== answers: ${answers.join(" / ")}`);
  if (answers.join() !== expected.join()) {
    throw new Error(`expected ${expected.join(" / ")}`);
  }
}

main().catch((err) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
