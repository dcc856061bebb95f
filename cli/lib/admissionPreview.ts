// The admission preview of a drift report: each Helm release the preview plans is rendered
// (`helm template`, Helm v3 on PATH) and every object is sent to the API server as a server-side
// dry-run apply with the stage's scoped identity, so a chart change a guardrail would refuse fails
// the pull request rather than the deploy. A dry-run persists nothing; apply (not create) takes
// the UPDATE path for objects that exist already, as the upgrade would. The render is the
// deploy's: an upgrade for a release that exists, with the cluster's version and APIs, so a
// chart cannot render one thing here and another at deploy through `.Release.IsUpgrade` or
// `.Capabilities`. Each refusal is classified by policy/admissionRelief.ts (which rule refused,
// which config key would allow it); a workload admitted with a Pod Security warning counts as
// refused, since its pods will be.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { runtime } from "@pulumi/pulumi";
import * as yaml from "js-yaml";
import { podSecurityWarning, reliefOf, RefusalSource } from "../../policy/admissionRelief";
import { apiMessage, apiRequest } from "./apiRequest";

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
  /**
   * The release exists (the preview plans an update, or nothing): the deploy renders it as an
   * upgrade (`.Release.IsUpgrade`), which a chart may render differently from an install.
   */
  readonly upgrade: boolean;
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
      upgrade: !["create", "create-replacement"].includes(md.op),
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
 * directory of Pulumi.yaml's `main`, see components/delivery/charts.ts), as the program saw it:
 * its real path, since a process's working directory is one (a `bin` linked into the work dir, as
 * the tests and the bench do it, resolves elsewhere).
 */
export function programDir(workDir: string): string {
  let dir = workDir;
  try {
    const project = yaml.load(fs.readFileSync(path.join(workDir, "Pulumi.yaml"), "utf8")) as {
      main?: string;
    };
    if (project?.main) dir = path.join(workDir, path.dirname(project.main));
  } catch {
    // no readable project file: the work dir itself
  }
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * What the deploy's Helm sees of the cluster and `helm template` does not (it renders with built-in
 * defaults): the server's version and every API it serves, kinds included, as `.Capabilities`.
 * A chart that renders an object only where an API exists (`.Capabilities.APIVersions.Has
 * "gateway.networking.k8s.io/v1/HTTPRoute"`) or from some version on renders it here too.
 */
export interface Capabilities {
  readonly kubeVersion: string;
  /** `group/version` and `group/version/Kind` (`v1`, `v1/Service` for the core group). */
  readonly apiVersions: readonly string[];
}

/** `helm template` flags that render as the deploy will (upgrade or install, the cluster's APIs). */
export function renderFlags(target: ReleaseTarget, capabilities?: Capabilities): string[] {
  return [
    ...(target.upgrade ? ["--is-upgrade"] : []),
    ...(capabilities
      ? [
          "--kube-version",
          capabilities.kubeVersion,
          ...(capabilities.apiVersions.length > 0
            ? ["--api-versions", capabilities.apiVersions.join(",")]
            : []),
        ]
      : []),
  ];
}

/** The capabilities as the scoped identity discovers them (discovery is open to every identity). */
export async function discoverCapabilities(kubeconfig: string): Promise<Capabilities> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(kubeconfig);
  const get = async (path: string) => {
    const reply = await apiRequest(kc, "GET", path);
    if (reply.status !== 200) throw new Error(`discovery GET ${path}: HTTP ${reply.status}`);
    return reply.body;
  };
  const version = await get("/version");
  const groupVersions: string[] = [...(((await get("/api")).versions ?? []) as string[])];
  for (const g of ((await get("/apis")).groups ?? []) as {
    versions?: { groupVersion: string }[];
  }[])
    for (const v of g.versions ?? []) groupVersions.push(v.groupVersion);
  const kinds = await Promise.all(
    groupVersions.map(async (gv) => {
      // An aggregated API that is down: its group/version still counts, its kinds are unknown.
      const reply = await apiRequest(kc, "GET", gv === "v1" ? "/api/v1" : `/apis/${gv}`);
      const resources = (reply.status === 200 ? (reply.body?.resources ?? []) : []) as {
        name: string;
        kind: string;
      }[];
      return resources.filter((r) => !r.name.includes("/")).map((r) => `${gv}/${r.kind}`);
    }),
  );
  return {
    kubeVersion: String(version.gitVersion ?? ""),
    apiVersions: [...new Set([...groupVersions, ...kinds.flat()])].sort(),
  };
}

/** Render a release's objects with `helm template` (values through a private file, never argv). */
export async function renderRelease(
  target: ReleaseTarget,
  workDir: string,
  capabilities?: Capabilities,
): Promise<Obj[]> {
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
      ...renderFlags(target, capabilities),
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

/** The texts of `Warning` headers (`299 - "<text>"`, several joined by ", "). */
export function warningTexts(header: string | undefined): string[] {
  if (!header) return [];
  return [...header.matchAll(/\d{3} \S+ "((?:[^"\\]|\\.)*)"/g)].map((m) =>
    m[1].replace(/\\(.)/g, "$1"),
  );
}

/**
 * Dry-run every object as the identity of `kubeconfig`; the refusals, in the chart's order. An
 * object admitted with a Pod Security warning counts as refused: its pods would be.
 */
export async function dryRunObjects(
  objects: readonly Obj[],
  kubeconfig: string,
  stage: string,
  namespace: string,
): Promise<Refusal[]> {
  const k = await import("@kubernetes/client-node");
  const kc = new k.KubeConfig();
  kc.loadFromString(kubeconfig);
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("the scoped kubeconfig names no server");
  let warnings: string[] = [];
  // The typed client drops response headers: a middleware keeps the admission warnings.
  class WarningsKept extends k.KubernetesObjectApi {
    static make(): WarningsKept {
      const api = new WarningsKept(
        k.createConfiguration({
          baseServer: new k.ServerConfiguration(server!, {}),
          authMethods: { default: kc },
          promiseMiddleware: [
            {
              pre: async (context) => context,
              post: async (response) => {
                warnings.push(...warningTexts(response.headers["warning"]));
                return response;
              },
            },
          ],
        }),
      );
      api.setDefaultNamespace(kc);
      return api;
    }
  }
  const api = WarningsKept.make();
  const refusals: Refusal[] = [];
  for (const original of objects) {
    const object = structuredClone(original);
    const metadata = isObj(object.metadata) ? object.metadata : {};
    const label = `${String(object.kind)} ${String(metadata.name ?? "?")}${
      metadata.namespace && metadata.namespace !== namespace
        ? ` (namespace ${String(metadata.namespace)})`
        : ""
    }`;
    warnings = [];
    let message: string | undefined;
    try {
      await api.patch(
        object as never,
        undefined,
        "All",
        FIELD_MANAGER,
        true,
        k.PatchStrategy.ServerSideApply,
      );
      message = podSecurityWarning(warnings);
    } catch (err) {
      const unrecognized =
        err instanceof Error && err.message.startsWith("Unrecognized API version");
      if (typeof (err as { code?: unknown }).code !== "number" && !unrecognized) throw err;
      message = unrecognized
        ? `the API server serves no ${String(object.kind)} in ${String(object.apiVersion)}`
        : apiMessage(err);
    }
    if (message !== undefined) {
      refusals.push({
        object: label,
        ...reliefOf(message, stage, namespace),
        message: shorten(message),
      });
    }
  }
  return refusals;
}

/** Discovery once per identity and drift run (every release of a stage shares it). */
const discovered = new Map<string, Promise<Capabilities>>();
function capabilitiesOf(kubeconfig: string): Promise<Capabilities> {
  let found = discovered.get(kubeconfig);
  if (!found) {
    found = discoverCapabilities(kubeconfig);
    discovered.set(kubeconfig, found);
    found.catch(() => discovered.delete(kubeconfig));
  }
  return found;
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
    const capabilities = await capabilitiesOf(kubeconfig);
    const objects = await renderRelease(target, workDir, capabilities);
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
