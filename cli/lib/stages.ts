// Reading a stack's outputs through the Automation API, and the `stages` output as a table (demo,
// deploy). Types come from the outputs contract (components/outputs.ts), nothing else of the
// program.
import type { Stack } from "@pulumi/pulumi/automation";
import { OUTPUT_NAMES, StageSummary } from "../../components/outputs";
import { renderTable } from "./table";

/** The stack's mode from its config (`all` when unset, as the program defaults it). */
export async function stackMode(stack: Stack): Promise<string> {
  try {
    return (await stack.getConfig("scoped-cd:mode")).value;
  } catch {
    return "all"; // `pulumi config get` fails for a key that is not set
  }
}

/**
 * The stack's config as the program sees it: one `pulumi config` for all keys, each value parsed
 * as JSON (objects are stored that way), a value that is not JSON as its text, an unset key as
 * undefined.
 */
export async function stackConfig(stack: Stack): Promise<(key: string) => unknown> {
  const all = await stack.getAllConfig();
  return (key) => {
    const raw = all[key]?.value;
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  };
}

/** The `stages` output of an outputs map (from `up` or `stack.outputs()`). */
export function stagesOf(
  outputs: Record<string, { value: unknown }>,
): Record<string, StageSummary> {
  return (outputs[OUTPUT_NAMES.stages]?.value ?? {}) as Record<string, StageSummary>;
}

/** One line per release (a stage without releases gets one line of its own). */
export function renderStagesTable(stages: Record<string, StageSummary>): string {
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
        s.tiller.enabled === null ? "?" : s.tiller.enabled ? `on (${s.tiller.namespace})` : "off",
        name,
        r?.chart ?? "-",
        r?.version ?? "-",
        r?.status ?? "-",
        r ? String(r.revision) : "-",
      ]);
    }
  }
  return renderTable(rows);
}
