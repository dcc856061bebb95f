// Hand a delivery stack the scoped kubeconfig that Jenkins holds (a credentials file), for one
// run, without it ever touching a command line, a log, or the checked-out stack file. Shared by
// `scoped-cd deploy` and `scoped-cd drift`.
//
// The stack's committed Pulumi.<stack>.yaml is copied into a private temporary directory; in the
// copy, `scoped-cd:accessStack` is dropped (the kubeconfig replaces it: config validation allows
// one or the other) and the kubeconfig is set as the secret `scoped-cd:kubeconfig`, read by the
// CLI from stdin. The run then uses the copy (`--config-file`); the directory is removed after.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const ACCESS_STACK_KEY = "scoped-cd:accessStack";
const KUBECONFIG_KEY = "scoped-cd:kubeconfig";

/**
 * Run the Pulumi CLI; stdin from a file descriptor if given; stdout discarded, never shown.
 * Spawned by hand because the Automation API's setConfig puts the value on the command line.
 */
function pulumi(
  args: string[],
  cwd: string,
  stdinFd?: number,
): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pulumi", [...args, "--non-interactive"], {
      cwd,
      stdio: [stdinFd ?? "ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stderr }));
  });
}

/** The stack config file name Pulumi looks for: `Pulumi.<stack>.yaml`, org/project dropped. */
export function stackConfigFileName(stack: string): string {
  return `Pulumi.${stack.split("/").pop()}.yaml`;
}

/**
 * Prepare a config file for `stack` whose secret `scoped-cd:kubeconfig` is the content of
 * `kubeconfigFile`, call `run` with its path, then delete it.
 */
export async function withScopedKubeconfig<T>(
  workDir: string,
  stack: string,
  kubeconfigFile: string,
  run: (configFile: string) => Promise<T>,
): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-config-")); // mode 0700
  try {
    const configFile = path.join(dir, stackConfigFileName(stack));
    const committed = path.join(workDir, stackConfigFileName(stack));
    if (fs.existsSync(committed)) fs.copyFileSync(committed, configFile);
    else fs.writeFileSync(configFile, "config: {}\n", { mode: 0o600 });
    fs.chmodSync(configFile, 0o600);
    const common = ["--stack", stack, "--config-file", configFile];

    const hasAccessStack = await pulumi(["config", "get", ACCESS_STACK_KEY, ...common], workDir);
    if (hasAccessStack.code === 0) {
      const removed = await pulumi(["config", "rm", ACCESS_STACK_KEY, ...common], workDir);
      if (removed.code !== 0) throw new Error(`pulumi config rm failed: ${removed.stderr.trim()}`);
    }
    const fd = fs.openSync(kubeconfigFile, "r");
    try {
      const set = await pulumi(
        ["config", "set", "--secret", KUBECONFIG_KEY, ...common],
        workDir,
        fd,
      );
      if (set.code !== 0) throw new Error(`pulumi config set failed: ${set.stderr.trim()}`);
    } finally {
      fs.closeSync(fd);
    }
    return await run(configFile);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
