// The permission delta of a drift report: per stage of an access (or `all`) stack, what the
// deployer may do before and after the change, and which guardrail allowances it adds or removes.
// Pure: read from the preview's engine events. Before is the live object as the refresh read it
// (what the credential can do now, hand edits included), else the state; after is what the
// preview plans to declare (the change under review).
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";
import {
  allowancesOf,
  AllowanceChange,
  diffAllowances,
  ValidationText,
} from "../../policy/allowances";
import { diffRules, RuleDelta } from "../../policy/escalation";
import type { PolicyRule } from "../../policy/rbac";

const ROLE_TYPE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const POLICY_TYPE = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy";
/** The deployer's Role (components/access/deployerAccess.ts), the one its credential holds. */
const DEPLOYER_ROLE = "scoped-deployer";
const STAGE_LABEL = "scoped-cd.io/stage";
const GONE_OPS = new Set(["delete", "delete-replaced", "discard", "discard-replaced"]);

export interface StagePermissionDelta {
  readonly stage: string;
  /** The deployer Role's change; undefined when the stack declares no deployer Role for it. */
  readonly role?: RuleDelta;
  readonly allowances: readonly AllowanceChange[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

interface Tracked {
  type: string;
  /** The object before: live if the refresh read it, else the state; null when there is none. */
  before?: Obj | null;
  /** The planned object; null when the plan deletes it. */
  after?: Obj | null;
  stateBefore?: Obj;
}

function labelsOf(o: Obj | null | undefined): Obj {
  const metadata = o && isObj(o.metadata) ? o.metadata : {};
  return isObj(metadata.labels) ? metadata.labels : {};
}
function nameOf(o: Obj | null | undefined): unknown {
  return o && isObj(o.metadata) ? o.metadata.name : undefined;
}

function track(events: readonly EngineEvent[]): Map<string, Tracked> {
  const tracked = new Map<string, Tracked>();
  const steps: { pre: boolean; md: StepEventMetadata }[] = [];
  for (const e of events) {
    if (e.resourcePreEvent) steps.push({ pre: true, md: e.resourcePreEvent.metadata });
    if (e.resOutputsEvent) steps.push({ pre: false, md: e.resOutputsEvent.metadata });
  }
  for (const { pre, md } of steps) {
    if (md.type !== ROLE_TYPE && md.type !== POLICY_TYPE) continue;
    const t = tracked.get(md.urn) ?? { type: md.type };
    tracked.set(md.urn, t);
    if (md.op === "refresh") {
      // The outputs event carries what was read back (no `new`: the object is gone).
      if (!pre && md.old) t.before = isObj(md.new?.outputs) ? md.new!.outputs : null;
      continue;
    }
    if (md.old && t.stateBefore === undefined) {
      t.stateBefore = (isObj(md.old.outputs) ? md.old.outputs : md.old.inputs) as Obj;
    }
    if (GONE_OPS.has(md.op)) {
      if (t.after === undefined) t.after = null;
    } else if (md.new && isObj(md.new.inputs)) {
      t.after = md.new.inputs;
    }
  }
  for (const t of tracked.values()) {
    if (t.before === undefined) t.before = t.stateBefore ?? null;
    if (t.after === undefined) t.after = t.before; // no step planned: unchanged
  }
  return tracked;
}

const rulesOf = (o: Obj | null | undefined): PolicyRule[] =>
  o && Array.isArray(o.rules) ? (o.rules as PolicyRule[]) : [];
const validationsOf = (o: Obj | null | undefined): ValidationText[] =>
  o && isObj(o.spec) && Array.isArray(o.spec.validations)
    ? (o.spec.validations as ValidationText[])
    : [];

/** Per stage, the change in what its deployer may do; stages without any change are left out. */
export function permissionDeltas(events: readonly EngineEvent[]): StagePermissionDelta[] {
  const stages = new Map<
    string,
    {
      role?: { before: PolicyRule[]; after: PolicyRule[] };
      before: ValidationText[];
      after: ValidationText[];
    }
  >();
  const entry = (stage: string) => {
    const e = stages.get(stage) ?? { before: [], after: [] };
    stages.set(stage, e);
    return e;
  };
  for (const t of track(events).values()) {
    const stage = labelsOf(t.after)[STAGE_LABEL] ?? labelsOf(t.before)[STAGE_LABEL];
    if (typeof stage !== "string") continue;
    if (t.type === ROLE_TYPE) {
      if ((nameOf(t.after) ?? nameOf(t.before)) !== DEPLOYER_ROLE) continue;
      const e = entry(stage);
      e.role = {
        before: [...(e.role?.before ?? []), ...rulesOf(t.before)],
        after: [...(e.role?.after ?? []), ...rulesOf(t.after)],
      };
    } else {
      const e = entry(stage);
      e.before.push(...validationsOf(t.before));
      e.after.push(...validationsOf(t.after));
    }
  }
  const out: StagePermissionDelta[] = [];
  for (const [stage, e] of [...stages].sort(([a], [b]) => a.localeCompare(b))) {
    const role = e.role ? diffRules(e.role.before, e.role.after) : undefined;
    const allowances = diffAllowances(allowancesOf(stage, e.before), allowancesOf(stage, e.after));
    const roleChanged = role !== undefined && (role.added.length > 0 || role.removed.length > 0);
    if (!roleChanged && allowances.length === 0) continue;
    out.push({ stage, ...(role ? { role } : {}), allowances });
  }
  return out;
}
