// Fixed costs (issue 20): what every CLI step pays before its first resource, each measured alone
// so the previews' ratios can be read against them. Node's start; loading @pulumi/pulumi, its
// Automation API and the compiled program's modules; the `pulumi` CLI's start; a resource plugin's
// launch (the Kubernetes provider, until it prints its gRPC port); and the passphrase key
// derivation (a `config get` of a secret value against a plain one of the same stack, in a file
// backend of its own). No cluster is needed.
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { run } from "./proc";
import { BENCH_PASSPHRASE, REPO } from "./stacks";
import { Row } from "./stats";

/** Seconds until the Kubernetes provider prints its port (the engine's handshake), then kill it. */
function pluginLaunch(binary: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [], { stdio: ["ignore", "pipe", "ignore"] });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${binary} printed no port within 60 s`));
    }, 60_000);
    child.stdout.once("data", () => {
      clearTimeout(timer);
      resolve(Number(process.hrtime.bigint() - t0) / 1e9);
      child.kill("SIGKILL");
    });
    child.on("error", reject);
  });
}

/** The Kubernetes provider the engine would launch (the toolchain's PULUMI_HOME). */
function kubernetesProvider(): string {
  const plugins = path.join(
    process.env.PULUMI_HOME ?? path.join(REPO, ".local/pulumi-home"),
    "plugins",
  );
  const dir = fs.readdirSync(plugins).find((d) => d.startsWith("resource-kubernetes-v"));
  if (!dir) throw new Error(`no resource-kubernetes plugin in ${plugins}: run hack/toolchain.sh`);
  return path.join(plugins, dir, "pulumi-resource-kubernetes");
}

export async function benchFixedCosts(
  repeat: <T>(what: string, fn: () => Promise<T>, describe: (v: T) => string) => Promise<T[]>,
  progress: (line: string) => void,
): Promise<Row[]> {
  progress("== fixed costs: node, SDK and program load, CLI start, plugin launch, key derivation");
  const node = async (code: string) => (await run("node", ["-e", code], { cwd: REPO })).seconds;
  const fmt = (s: number) => `${s.toFixed(2)}s`;
  const nodeStart = await repeat("node start", () => node("0"), fmt);
  const sdk = await repeat("require @pulumi/pulumi", () => node("require('@pulumi/pulumi')"), fmt);
  const automation = await repeat(
    "require @pulumi/pulumi/automation",
    () => node("require('@pulumi/pulumi/automation')"),
    fmt,
  );
  const components = await repeat(
    "require the program's components",
    () => node("require('./bin/components')"),
    fmt,
  );
  const cli = await repeat(
    "pulumi version",
    async () => (await run("pulumi", ["version"])).seconds,
    fmt,
  );
  const plugin = await repeat(
    "kubernetes plugin launch",
    () => pluginLaunch(kubernetesProvider()),
    fmt,
  );

  // One stack in a file backend of its own, a plain and a secret config value.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-bench-fixed-"));
  const env = {
    PULUMI_BACKEND_URL: `file://${dir}`,
    PULUMI_CONFIG_PASSPHRASE: BENCH_PASSPHRASE,
    PULUMI_CONFIG_PASSPHRASE_FILE: undefined,
  };
  const pulumi = (...args: string[]) => run("pulumi", [...args, "--cwd", dir], { env });
  try {
    fs.writeFileSync(path.join(dir, "Pulumi.yaml"), "name: bench-fixed\nruntime: nodejs\n");
    await pulumi("stack", "init", "fixed", "--non-interactive");
    await pulumi("config", "set", "plain", "v");
    await pulumi("config", "set", "--secret", "hidden", "v");
    const plain = await repeat(
      "pulumi config get (plain)",
      async () => (await pulumi("config", "get", "plain")).seconds,
      fmt,
    );
    const secret = await repeat(
      "pulumi config get (secret)",
      async () => (await pulumi("config", "get", "hidden")).seconds,
      fmt,
    );
    const minus = (a: readonly number[], b: readonly number[]) => a.map((v, i) => v - b[i]);
    return [
      { name: "node start (node -e 0)", values: nodeStart },
      { name: "load @pulumi/pulumi, beyond node's start", values: minus(sdk, nodeStart) },
      {
        name: "load @pulumi/pulumi/automation, beyond node's start",
        values: minus(automation, nodeStart),
      },
      {
        name: "load the program's components, beyond node's start",
        values: minus(components, nodeStart),
      },
      { name: "pulumi CLI start (pulumi version)", values: cli },
      { name: "Kubernetes provider launch (until its port)", values: plugin },
      { name: "pulumi config get, plain value", values: plain },
      {
        name: "passphrase key derivation (secret get - plain get)",
        values: minus(secret, plain),
        note: "paid once per CLI process and salt",
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
