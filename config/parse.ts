// Validate the raw `scoped-cd:` configuration: the schema per key, then the cross-field rules,
// every problem collected (each stage is parsed on its own so one bad stage hides no other).
import { ConfigError, formatIssue, formatProblem, Problem } from "./errors";
import { modeChecks, namespaceChecks, stageChecks } from "./rules";
import { isRecord, Mode, StackConfig, StageConfig, stackSchema, stageSchema } from "./schema";

/**
 * Validate raw configuration (keys without the `scoped-cd:` prefix; objects already parsed).
 * Returns the typed config, or every problem with its key path.
 */
export function parseConfig<Secret = unknown>(
  raw: Record<string, unknown>,
  kubeconfig?: Secret,
): { config: StackConfig<Secret>; problems: [] } | { config?: undefined; problems: string[] } {
  const problems: string[] = [];
  const top = stackSchema.safeParse(raw, { reportInput: true });
  if (!top.success) problems.push(...top.error.issues.flatMap((i) => formatIssue(i, [])));
  const mode = top.success ? top.data.mode : undefined;

  const rawStages = isRecord(raw.stages) ? raw.stages : {};
  const stages: StageConfig[] = [];
  const structural: Problem[] = [...modeChecks(raw, mode, Object.keys(rawStages).length)];
  if (isRecord(raw.stages) && Object.keys(rawStages).length === 0) {
    structural.push([["stages"], "must declare at least one stage"]);
  }
  structural.push(...namespaceChecks(rawStages));
  for (const [name, rawStage] of Object.entries(rawStages)) {
    const parsed = stageSchema.safeParse(rawStage, { reportInput: true });
    if (!parsed.success) {
      problems.push(...parsed.error.issues.flatMap((i) => formatIssue(i, ["stages", name])));
      continue;
    }
    structural.push(...stageChecks(name, parsed.data, rawStage as Record<string, unknown>, mode));
    stages.push({ ...parsed.data, name, namespace: parsed.data.namespace ?? name });
  }
  problems.push(...structural.map(formatProblem));

  if (problems.length > 0 || !top.success) return { problems: [...new Set(problems)] };
  return {
    problems: [],
    config: {
      mode: top.data.mode,
      cluster: top.data.cluster,
      accessStack: top.data.accessStack,
      kubeconfig,
      stages,
    },
  };
}

/**
 * One stage's configuration for a program that uses the components as a library: the same schema,
 * defaults and rules as a stack's `scoped-cd:stages.<name>`, or a ConfigError listing every problem.
 */
export function stageConfig(name: string, raw: unknown, mode: Mode = "all"): StageConfig {
  const { config, problems } = parseConfig({
    mode,
    cluster: { name: "library" },
    stages: { [name]: raw },
  });
  if (!config) throw new ConfigError(problems);
  return config.stages[0];
}
