// Rules that need several keys at once (the schema checks each key alone): which keys a mode
// reads, how a stage's releases fit together, and namespaces across stages.
import { Problem } from "./errors";
import {
  DNS1123_LABEL,
  DNS1123_MESSAGE,
  EXACT_CHART_VERSION,
  isLocalChart,
  isOciRepo,
  isRecord,
  Mode,
  ParsedStage,
  QUOTA_KEY,
} from "./schema";

/** Mode-level rules; `mode` is undefined when the mode itself is invalid. */
export function modeChecks(
  raw: Record<string, unknown>,
  mode: Mode | undefined,
  stageCount: number,
) {
  const problems: Problem[] = [];
  if (mode === "delivery") {
    if (raw.accessStack === undefined && raw.kubeconfig === undefined) {
      problems.push([
        ["mode"],
        "delivery mode needs the scoped kubeconfig: set scoped-cd:accessStack or the secret scoped-cd:kubeconfig",
      ]);
    }
    if (raw.accessStack !== undefined && raw.kubeconfig !== undefined) {
      problems.push([
        ["kubeconfig"],
        "set either scoped-cd:accessStack or scoped-cd:kubeconfig, not both",
      ]);
    }
    if (raw.kubeconfig !== undefined && stageCount > 1) {
      problems.push([
        ["kubeconfig"],
        "one kubeconfig serves one stage; this delivery stack declares several (use scoped-cd:accessStack)",
      ]);
    }
  } else if (mode !== undefined) {
    for (const key of ["accessStack", "kubeconfig"] as const) {
      if (raw[key] !== undefined) {
        problems.push([[key], `is read only in delivery mode (mode is ${mode})`]);
      }
    }
  }
  return problems;
}

/** Rules of one stage that need several fields at once (the stage itself parsed). */
export function stageChecks(
  stage: string,
  cfg: ParsedStage,
  rawStage: Record<string, unknown>,
  mode: Mode | undefined,
): Problem[] {
  const problems: Problem[] = [];
  const at = (...rest: PropertyKey[]) => ["stages", stage, ...rest];

  for (const key of Object.keys(cfg.guardrails.quota)) {
    if (!QUOTA_KEY.test(key)) {
      problems.push([at("guardrails", "quota", key), "is not a ResourceQuota resource name"]);
    }
  }
  const misplaced =
    mode === "delivery"
      ? {
          keys: ["deletable", "deployer", "guardrails", "tiller"],
          owner: "the access stack; a delivery stack only deploys releases",
        }
      : mode === "access"
        ? {
            keys: ["releases", "promoteFrom"],
            owner: "the delivery stack; an access stack deploys no releases",
          }
        : { keys: [], owner: "" };
  for (const key of misplaced.keys) {
    if (rawStage[key] !== undefined) problems.push([at(key), `belongs to ${misplaced.owner}`]);
  }

  for (const [release, rel] of Object.entries(cfg.releases)) {
    const relAt = (...rest: PropertyKey[]) => at("releases", release, ...rest);
    if (release.length > 53) {
      problems.push([relAt(), "release name must be at most 53 characters (Helm's limit)"]);
    } else if (!DNS1123_LABEL.test(release)) {
      problems.push([relAt(), `release name ${DNS1123_MESSAGE}`]);
    }
    const local = isLocalChart(rel.chart);
    if (local && rel.repo) {
      problems.push([relAt("repo"), "is set, but chart is a local path; drop one of them"]);
    }
    if (rel.chart.startsWith("oci://")) {
      problems.push([
        relAt("chart"),
        "is an oci:// reference; set repo to the registry location (oci://host/path) and chart to the chart's name",
      ]);
    } else if (!local && !rel.repo) {
      problems.push([relAt("chart"), "is not a local path (./...) and no repo is set"]);
    }
    if (isOciRepo(rel.repo)) problems.push(...ociChecks(rel.repo, rel.chart, rel.version, relAt));
    if (cfg.promoteFrom && rel.version) {
      problems.push([
        relAt("version"),
        `is pinned, but the stage promotes from ${cfg.promoteFrom}; set one of them`,
      ]);
    }
    if (!cfg.promoteFrom && !local && !rel.version) {
      problems.push([relAt("version"), "is required for a repository chart (pin what you deploy)"]);
    }
  }
  return problems;
}

/**
 * A chart from an OCI registry is `<repo>/<chart>:<version>`: the chart must be a bare name and the
 * version an exact one (the tag), and the location must hold no credentials (the URL is state and
 * output: registry logins belong in Helm's registry config).
 */
function ociChecks(
  repo: string,
  chart: string,
  version: string | undefined,
  relAt: (...rest: PropertyKey[]) => PropertyKey[],
): Problem[] {
  const problems: Problem[] = [];
  let url: URL | undefined;
  try {
    url = new URL(repo);
  } catch {
    url = undefined; // the schema reports a malformed URL; the host check below names it too
  }
  if (!url || url.host === "") {
    problems.push([relAt("repo"), "must name a registry host: oci://host[:port]/path"]);
  } else if (url.username !== "" || url.password !== "") {
    problems.push([
      relAt("repo"),
      "must not hold credentials; log in to the registry with helm registry login instead",
    ]);
  } else if (url.search !== "" || url.hash !== "") {
    problems.push([relAt("repo"), "must be oci://host[:port]/path, without a query or fragment"]);
  }
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*$/.test(chart)) {
    problems.push([
      relAt("chart"),
      "must be the chart's name in the oci repo (lower case, no '/', ':' or '@'); the version goes in version",
    ]);
  }
  if (version !== undefined && !EXACT_CHART_VERSION.test(version)) {
    problems.push([
      relAt("version"),
      "must be an exact version such as 1.4.2 for an oci chart (a range is not a pin)",
    ]);
  }
  return problems;
}

/** Stage names and namespaces across stages (checked on the raw input, so always run). */
export function namespaceChecks(rawStages: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const [stage, rawStage] of Object.entries(rawStages)) {
    if (!DNS1123_LABEL.test(stage) || stage.length > 30) {
      problems.push([["stages", stage], `stage name ${DNS1123_MESSAGE}, at most 30 characters`]);
    }
    const explicit = isRecord(rawStage) ? rawStage.namespace : undefined;
    if (explicit !== undefined && typeof explicit !== "string") continue; // the schema reports it
    const namespace = explicit ?? stage;
    const nsKey = explicit !== undefined ? ["stages", stage, "namespace"] : ["stages", stage];
    if (namespace === "default" || namespace.startsWith("kube-")) {
      problems.push([
        nsKey,
        `namespace ${namespace} is reserved; choose a namespace of the stage's own`,
      ]);
    } else if (seen.has(namespace)) {
      problems.push([
        nsKey,
        `namespace ${namespace} is already used by stage ${seen.get(namespace)}`,
      ]);
    }
    seen.set(namespace, stage);
  }
  return problems;
}
