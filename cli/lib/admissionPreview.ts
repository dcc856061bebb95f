// The admission preview of a drift report: each Helm release the preview plans is rendered
// (`helm template`, Helm v3 on PATH) and every object is sent to the API server as a server-side
// dry-run apply with the stage's scoped identity, so a chart change a guardrail would refuse fails
// the pull request rather than the deploy. A dry-run persists nothing; apply (not create) takes
// the UPDATE path for objects that exist already, as the upgrade would. Each refusal is
// classified by policy/admissionRelief.ts (which rule refused, which config key would allow it).
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { runtime } from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { reliefOf, RefusalSource } from "../../policy/admissionRelief";
import { apiMessage } from "./apiRequest";

const execFileAsync = promisify(execFile);
const RELEASE_TYPE = "kubernetes:helm.sh/v3:Release";
/** What the engine sends for a value not known until the update runs. */
const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const FIELD_MANAGER = "scoped-cd-admission-preview";
const MAX_MESSAGE_CHARS = 400;

/** One release as the preview plans it (the Release resource's planned inputs). */
export interface ReleaseTarget {
  readonly stage: string;
  readonly release: string;
  readonly namespace: string;
  readonly chart: string;
  readonly version?: string;
  readonly repo?: string;
  readonly values: Record<string, unknown>;
  /** Why it cannot be rendered before the update runs (then nothing else is set usefully). */
  readonly unknown?: string;
}

export interface Refusal {
  /** `Service storefront-nodeport` */
  readonly object: string;
  readonly source: RefusalSource;
  readonly rule: string;
  readonly policy?: string;
  readonly configKey: string | null;
  /** The API server's answer (shortened). */
  readonly message: string;
}

export interface ReleaseAdmission {
  readonly stage: string;
  readonly release: string;
  readonly namespace: string;
  /** Objects the chart renders (all sent). */
  readonly objects: number;
  readonly refusals: readonly Refusal[];
  /** Why the release could not be checked (rendering failed, no credential, API unreachable). */
  readonly error?: string;
  /**
   * Why it was not checked although nothing failed: what it renders is not known before the
   * update runs (a new stage's namespace, secret values). Noted; no effect on the exit code.
   */
  readonly skipped?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function holdsSecretOrUnknown(value: unknown): "secret" | "unknown" | undefined {
  if (value === UNKNOWN) return "unknown";
  if (value === "[secret]") return "secret";
  if (isObj(value) && value[runtime.specialSigKey] === runtime.specialSecretSig) return "secret";
  const children = Array.isArray(value) ? value : isObj(value) ? Object.values(value) : [];
  for (const child of children) {
    const found = holdsSecretOrUnknown(child);
    if (found) return found;
  }
  return undefined;
}

/** The stage of a release from its URN name, `<stage>-releases-<release>` (components/stage.ts). */
function stageOfUrn(urn: string, release: string): string | undefined {
  const name = urn.split("::").pop() ?? "";
  const suffix = `-releases-${release}`;
  return name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined;
}

/** The releases a preview plans to install or upgrade (not those it deletes), in a stable order. */
export function releaseTargets(events: readonly EngineEvent[]): ReleaseTarget[] {
  const targets = new Map<string, ReleaseTarget>();
  for (const e of events) {
    const md = e.resourcePreEvent?.metadata;
    if (!md || md.type !== RELEASE_TYPE || md.op === "refresh") continue;
    if (["delete", "delete-replaced", "discard", "discard-replaced", "read"].includes(md.op))
      continue;
    const inputs = md.new?.inputs;
    if (!isObj(inputs) || targets.has(md.urn)) continue;
    const release = String(inputs.name ?? "");
    const repoOpts = isObj(inputs.repositoryOpts) ? inputs.repositoryOpts : {};
    const values = isObj(inputs.values) ? inputs.values : {};
    const unknownIn = holdsSecretOrUnknown({
      namespace: inputs.namespace,
      chart: inputs.chart,
      version: inputs.version,
    });
    const valuesHold = holdsSecretOrUnknown(values);
    targets.set(md.urn, {
      stage: stageOfUrn(md.urn, release) ?? String(inputs.namespace ?? ""),
      release,
      namespace: String(inputs.namespace ?? ""),
      chart: String(inputs.chart ?? ""),
      ...(typeof inputs.version === "string" && inputs.version ? { version: inputs.version } : {}),
      ...(typeof repoOpts.repo === "string" ? { repo: repoOpts.repo } : {}),
      values,
      ...(unknownIn
        ? { unknown: "its namespace or chart is not known until the update runs (a new stage)" }
        : valuesHold === "secret"
          ? { unknown: "its values hold secrets, which the preview does not see" }
          : valuesHold === "unknown"
            ? { unknown: "its values are not known until the update runs" }
            : {}),
    });
  }
  return [...targets.values()].sort(
    (a, b) => a.stage.localeCompare(b.stage) || a.release.localeCompare(b.release),
  );
}

/**
 * The directory a local chart path of the Release inputs is relative to: the program's (the
 * directory of Pulumi.yaml's `main`, see components/delivery/charts.ts).
 */
function programDir(workDir: string): string {
  try {
    const project = yaml.load(fs.readFileSync(path.join(workDir, "Pulumi.yaml"), "utf8")) as {
      main?: string;
    };
    if (project?.main) return path.join(workDir, path.dirname(project.main));
  } catch {
    // no readable project file: the work dir itself
  }
  return workDir;
}

/** Render a release's objects with `helm template` (values through a private file, never argv). */
export async function renderRelease(target: ReleaseTarget, workDir: string): Promise<Obj[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "scoped-cd-render-")); // mode 0700
  try {
    const valuesFile = path.join(dir, "values.yaml");
    fs.writeFileSync(valuesFile, JSON.stringify(target.values), { mode: 0o600 });
    const local = !target.repo && !/^[a-z]+:\/\//.test(target.chart);
    const chart =
      local && !path.isAbsolute(target.chart)
        ? path.resolve(programDir(workDir), target.chart)
        : target.chart;
    const args = [
      "template",
      target.release,
      chart,
      "--namespace",
      target.namespace,
      "--values",
      valuesFile,
      "--include-crds",
      ...(target.repo ? ["--repo", target.repo] : []),
      ...(!local && target.version ? ["--version", target.version] : []),
    ];
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync("helm", args, {
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      }));
    } catch (err) {
      const e = err as { code?: unknown; stderr?: string };
      if (e.code === "ENOENT") {
        throw new Error("helm (v3) is not on PATH: the admission preview renders charts with it", {
          cause: err,
        });
      }
      throw new Error(`helm template failed: ${(e.stderr ?? String(err)).trim()}`, { cause: err });
    }
    const objects: Obj[] = [];
    for (const doc of yaml.loadAll(stdout)) {
      if (!isObj(doc)) continue;
      const items = doc.kind === "List" && Array.isArray(doc.items) ? doc.items : [doc];
      for (const item of items) {
        if (!isObj(item) || !item.kind) continue;
        // Test hooks run only on `helm test`, never at deploy.
        const hook =
          isObj(item.metadata) && isObj(item.metadata.annotations)
            ? String(item.metadata.annotations["helm.sh/hook"] ?? "")
            : "";
        if (/(^|,)test(-success|-failure)?($|,)/.test(hook)) continue;
        objects.push(item);
      }
    }
    return objects;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const shorten = (s: string) =>
  s.length > MAX_MESSAGE_CHARS ? `${s.slice(0, MAX_MESSAGE_CHARS - 1)}…` : s;

/** Dry-run every object as the identity of `kubeconfig`; the refusals, in the chart's order. */
export async function dryRunObjects(
  objects: readonly Obj[],
  kubeconfig: string,
  stage: string,
  namespace: string,
): Promise<Refusal[]> {
  const { KubeConfig, KubernetesObjectApi, PatchStrategy } =
    await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const api = KubernetesObjectApi.makeApiClient(kc);
  const refusals: Refusal[] = [];
  for (const original of objects) {
    const object = structuredClone(original);
    const metadata = isObj(object.metadata) ? object.metadata : {};
    const label = `${String(object.kind)} ${String(metadata.name ?? "?")}${
      metadata.namespace && metadata.namespace !== namespace
        ? ` (namespace ${String(metadata.namespace)})`
        : ""
    }`;
    try {
      await api.patch(
        object as never,
        undefined,
        "All",
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
    } catch (err) {
      const unrecognized =
        err instanceof Error && err.message.startsWith("Unrecognized API version");
      if (typeof (err as { code?: unknown }).code !== "number" && !unrecognized) throw err;
      const message = unrecognized
        ? `the API server serves no ${String(object.kind)} in ${String(object.apiVersion)}`
        : apiMessage(err);
      refusals.push({
        object: label,
        ...reliefOf(message, stage, namespace),
        message: shorten(message),
      });
    }
  }
  return refusals;
}

/**
 * Check one release: render, then dry-run as the stage's identity. Never throws: what went wrong
 * is the result's `error`.
 */
export async function checkRelease(
  target: ReleaseTarget,
  workDir: string,
  kubeconfig: string | undefined,
): Promise<ReleaseAdmission> {
  const base = { stage: target.stage, release: target.release, namespace: target.namespace };
  if (target.unknown)
    return { ...base, objects: 0, refusals: [], skipped: `not checked: ${target.unknown}` };
  if (!kubeconfig) {
    return {
      ...base,
      objects: 0,
      refusals: [],
      error: `not checked: no scoped kubeconfig for namespace ${target.namespace} (give --kubeconfig-file, or deploy the access stack first)`,
    };
  }
  try {
    const objects = await renderRelease(target, workDir);
    const refusals = await dryRunObjects(objects, kubeconfig, target.stage, target.namespace);
    return { ...base, objects: objects.length, refusals };
  } catch (err) {
    return {
      ...base,
      objects: 0,
      refusals: [],
      error: err instanceof Error ? err.message : String(err),
    };
  }
}
