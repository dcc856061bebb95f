// `verify --attacks`: run the escape attempts of policy/attacks.ts as the stage's scoped identity
// (and nothing else), each harmless: a server-side dry-run, a SelfSubjectAccessReview, or a dry-run
// update of an object created for it and deleted again. Raw requests, so every patch type (JSON
// patch included) goes out exactly as written.
import * as crypto from "node:crypto";
import {
  allowedByConfig,
  Attack,
  AttackClass,
  attackCatalogue,
  allowedTargets,
  PatchType,
  StageAllowances,
} from "../../../policy/attacks";
import { apiRequest as request, ApiReply as Reply } from "../apiRequest";
import type { StageTarget } from "./types";

type ClientNode = typeof import("@kubernetes/client-node", {
  with: { "resolution-mode": "import" },
});
type KubeConfig = InstanceType<ClientNode["KubeConfig"]>;

/** refused: as expected; ALLOWED: an escape; allowed-by-config: the stage allows it on purpose. */
export type AttackOutcome = "refused" | "ALLOWED" | "allowed-by-config" | "skipped" | "ERROR";

export interface AttackResult {
  readonly id: string;
  readonly class: AttackClass;
  readonly attempt: string;
  readonly outcome: AttackOutcome;
  /** The API server's answer: the refusing guardrail's message, RBAC's, or what was admitted. */
  readonly answer: string;
  /** What the catalogue expects to refuse it. */
  readonly refusedBy: string;
  /** The config key behind allowed-by-config. */
  readonly allowedBy?: string;
}

/** A failure of the run itself (any ALLOWED or ERROR). */
export const isFailure = (r: AttackResult) => r.outcome === "ALLOWED" || r.outcome === "ERROR";

const CONTENT_TYPES: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};
const FIELD_MANAGER = "scoped-cd-verify-attacks";

const ok = (r: Reply) => r.status >= 200 && r.status < 300;
const messageOf = (r: Reply) =>
  String(r.body?.message ?? `HTTP ${r.status}`)
    .split("\n")[0]
    .slice(0, 400);

/** Resource paths by discovery (one GET per group-version), so no kind's plural is guessed. */
class Paths {
  private readonly cache = new Map<string, Promise<Map<string, { name: string; ns: boolean }>>>();
  constructor(private readonly kc: KubeConfig) {}

  private resources(apiVersion: string) {
    let p = this.cache.get(apiVersion);
    if (!p) {
      const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      p = request(this.kc, "GET", base).then((r) => {
        const m = new Map<string, { name: string; ns: boolean }>();
        if (!ok(r)) return m;
        for (const res of r.body?.resources ?? []) {
          if (!String(res.name).includes("/"))
            m.set(res.kind, { name: res.name, ns: res.namespaced });
        }
        return m;
      });
      this.cache.set(apiVersion, p);
    }
    return p;
  }

  /**
   * The version of `group` that serves `kind`, the preferred one first (Gateway API kinds move
   * between versions across releases: TLSRoute was v1alpha2, is v1 now).
   */
  async servedVersion(group: string, kind: string): Promise<string | undefined> {
    const r = await request(this.kc, "GET", `/apis/${group}`);
    if (!ok(r)) return undefined;
    const preferred = r.body?.preferredVersion?.groupVersion;
    const versions: string[] = (r.body?.versions ?? []).map(
      (v: { groupVersion: string }) => v.groupVersion,
    );
    for (const gv of [preferred, ...versions.filter((v) => v !== preferred)]) {
      if (gv && (await this.resources(gv)).has(kind)) return gv;
    }
    return undefined;
  }

  /** The collection path of a kind, or undefined when the API server does not serve it. */
  async collection(apiVersion: string, kind: string, namespace?: string) {
    const res = (await this.resources(apiVersion)).get(kind);
    if (!res) return undefined;
    const base = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    return res.ns ? `${base}/namespaces/${namespace}/${res.name}` : `${base}/${res.name}`;
  }
}

type Meta = { name: string; namespace?: string };
const metaOf = (o: Record<string, unknown>) => o.metadata as Meta;

/** Run one attempt; `refused` is any refusal (its answer says which guardrail or authorizer). */
async function runOne(
  kc: KubeConfig,
  paths: Paths,
  attack: Attack,
): Promise<{ admitted: boolean; answer: string } | "skipped"> {
  const a = attack.action;
  if (a.kind === "access") {
    const r = await request(kc, "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: { resourceAttributes: { ...a.attributes } },
    });
    if (!ok(r)) throw new Error(`SelfSubjectAccessReview failed: ${messageOf(r)}`);
    const status = r.body?.status ?? {};
    const why = status.evaluationError || status.reason || "";
    return status.allowed
      ? { admitted: true, answer: `SelfSubjectAccessReview: allowed${why ? ` (${why})` : ""}` }
      : {
          admitted: false,
          answer: `RBAC: not allowed (SelfSubjectAccessReview)${why ? `: ${why}` : ""}`,
        };
  }
  if (a.kind === "create") {
    const m = metaOf(a.object);
    let object = a.object;
    if (attack.needs === "gateway-api") {
      const served = await paths.servedVersion(
        String(object.apiVersion).split("/")[0],
        String(object.kind),
      );
      if (!served) return "skipped";
      object = { ...object, apiVersion: served };
    }
    const coll = await paths.collection(
      String(object.apiVersion),
      String(object.kind),
      m.namespace,
    );
    if (!coll) return "skipped";
    const r = await request(kc, "POST", `${coll}?dryRun=All&fieldManager=${FIELD_MANAGER}`, object);
    return ok(r)
      ? { admitted: true, answer: `dry-run create admitted (HTTP ${r.status})` }
      : { admitted: false, answer: messageOf(r) };
  }
  const coll = await paths.collection(a.target.apiVersion, a.target.kind, a.target.namespace);
  if (!coll) return "skipped";
  const item = `${coll}/${a.target.name}`;
  if (a.base) {
    const made = await request(kc, "POST", `${coll}?fieldManager=${FIELD_MANAGER}`, a.base);
    if (!ok(made)) {
      throw new Error(`the object the attempt updates was refused itself: ${messageOf(made)}`);
    }
  }
  try {
    const query = `dryRun=All&fieldManager=${FIELD_MANAGER}${a.patchType === "apply" ? "&force=true" : ""}`;
    const r = await request(kc, "PATCH", `${item}?${query}`, a.patch, CONTENT_TYPES[a.patchType]);
    return ok(r)
      ? { admitted: true, answer: `dry-run ${a.patchType} patch admitted (HTTP ${r.status})` }
      : { admitted: false, answer: messageOf(r) };
  } finally {
    if (a.base) await request(kc, "DELETE", item).catch(() => undefined);
  }
}

/** The stage's allowances from its summary (none known: nothing is allowed by config). */
export function allowancesOf(target: StageTarget): StageAllowances | undefined {
  return target.summary.allowances ?? undefined;
}

/** Run the whole catalogue against one stage, one attempt at a time (stable order). */
export async function runAttacks(target: StageTarget): Promise<AttackResult[]> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromString(target.kubeconfig);
  const paths = new Paths(kc);
  const allowances = allowancesOf(target);
  const catalogue = attackCatalogue({
    namespace: target.summary.namespace,
    otherNamespace: target.otherNamespace,
    id: crypto.randomBytes(3).toString("hex"),
    ...allowedTargets(allowances),
  });
  const results: AttackResult[] = [];
  for (const attack of catalogue) {
    const head = {
      id: attack.id,
      class: attack.class,
      attempt: attack.attempt,
      refusedBy: attack.refusedBy,
    };
    let outcome: AttackOutcome;
    let answer: string;
    try {
      const r = await runOne(kc, paths, attack);
      if (r === "skipped") {
        outcome = "skipped";
        answer =
          attack.needs === "gateway-api"
            ? "the Gateway API CRDs are not installed"
            : "the API server does not serve this kind";
      } else {
        answer = r.answer;
        outcome = !r.admitted
          ? "refused"
          : allowedByConfig(attack, allowances)
            ? "allowed-by-config"
            : "ALLOWED";
      }
    } catch (err) {
      const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
      if ((err as { code?: string }).code === "ECONNREFUSED") throw err;
      outcome = "ERROR";
      answer = message;
    }
    results.push({
      ...head,
      outcome,
      answer,
      ...(outcome === "allowed-by-config" ? { allowedBy: attack.allowedBy!.key } : {}),
    });
  }
  return results;
}

/** One line for a summary (the demo's closing note, CI logs). */
export function attackSummary(results: readonly AttackResult[]): string {
  const count = (o: AttackOutcome) => results.filter((r) => r.outcome === o).length;
  const run = results.length - count("skipped");
  const parts = [
    `${run} attempts`,
    count("ALLOWED") + count("ERROR") === 0
      ? count("allowed-by-config") === 0
        ? "all refused"
        : `all refused but ${count("allowed-by-config")} allowed by config`
      : `${count("ALLOWED")} ALLOWED${count("ERROR") ? `, ${count("ERROR")} could not run` : ""}`,
  ];
  if (count("skipped")) parts.push(`${count("skipped")} skipped (not served by this cluster)`);
  return parts.join(", ");
}
