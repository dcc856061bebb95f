// The program's live side is handed in, not guessed: the admin credential check runs before any
// registration and can stop it, and an authoritative object's reconcile token follows what the
// live read finds (components/access/liveCluster.ts, authoritative.ts).
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { RECONCILE_ANNOTATION } from "../../components/access/authoritative";
import {
  KindLister,
  KubeConfig,
  LiveObject,
  LiveRef,
  readsByKind,
} from "../../components/access/liveCluster";
import { accessModeConfig } from "./fixtures";
import { ADMIN_KUBECONFIG, offlineCluster, runProgram } from "./harness";

const LIMITS = "kubernetes:core/v1:LimitRange";

async function declaredLimits(): Promise<{ key: string; spec: { limits: unknown[] } }> {
  const result = await runProgram(accessModeConfig());
  const limits = result.one(LIMITS, "-limits");
  assert.equal(limits.inputs.metadata.annotations[RECONCILE_ANNOTATION], "0");
  const key = `LimitRange/${limits.inputs.metadata.namespace}/${limits.inputs.metadata.name}`;
  return { key, spec: limits.inputs.spec };
}

async function reconcileTokenOf(live: Record<string, Record<string, unknown>>): Promise<string> {
  const result = await runProgram(accessModeConfig(), { cluster: offlineCluster(live) });
  if (result.error) throw result.error;
  return result.one(LIMITS, "-limits").inputs.metadata.annotations[RECONCILE_ANNOTATION] as string;
}

describe("the live cluster the program is handed", () => {
  it("stops the program before any registration when the admin credential check fails", async () => {
    const refused = new pulumi.RunError("scoped-cd:cluster: 401 Unauthorized (test)");
    const seen: string[] = [];
    const result = await runProgram(accessModeConfig(), {
      cluster: {
        checkAdminCredential: async (_kc, check) => {
          seen.push(check.mode);
          throw refused;
        },
        read: async () => undefined,
      },
    });
    assert.deepEqual(seen, ["access"]);
    assert.equal(result.error, refused);
    const custom = result.registrations.filter((r) => r.custom && !r.type.startsWith("pulumi:"));
    assert.deepEqual(custom, [], "nothing may be registered after a refused admin credential");
  });

  it("keeps the live reconcile token when the live object has nothing the declaration lacks", async () => {
    const { key, spec } = await declaredLimits();
    const token = await reconcileTokenOf({
      [key]: { metadata: { annotations: { [RECONCILE_ANNOTATION]: "abc" } }, spec },
    });
    assert.equal(token, "abc");
  });

  it("changes the reconcile token when the live object carries an appended entry", async () => {
    const { key, spec } = await declaredLimits();
    const widened = { limits: [...spec.limits, { type: "Container", max: { cpu: "64" } }] };
    const token = await reconcileTokenOf({
      [key]: { metadata: { annotations: { [RECONCILE_ANNOTATION]: "abc" } }, spec: widened },
    });
    assert.match(token, /^[0-9a-f]{12}$/);
  });

  it("gives the admin provider the same inputs whichever path the operator's kubeconfig is at", async () => {
    const elsewhere = path.join(
      fs.mkdtempSync(path.join(os.tmpdir(), "scd-admin-")),
      "other.kubeconfig",
    );
    fs.copyFileSync(ADMIN_KUBECONFIG, elsewhere);
    const adminInputs = async (adminKubeconfig: string) => {
      const result = await runProgram(accessModeConfig(), { adminKubeconfig });
      if (result.error) throw result.error;
      const admin = result.byType("pulumi:providers:kubernetes").filter((r) => r.name === "admin");
      assert.equal(admin.length, 1);
      return admin[0].inputs;
    };
    const first = await adminInputs(ADMIN_KUBECONFIG);
    const second = await adminInputs(elsewhere);
    // A second operator's preview would otherwise show the provider updated (kubeconfig path).
    assert.equal(first.kubeconfig, "");
    assert.deepEqual(second, first);
    assert.ok(
      !JSON.stringify(first).includes(path.dirname(ADMIN_KUBECONFIG)),
      JSON.stringify(first),
    );
  });
});

describe("the program's live reads, one list per kind", () => {
  const kc = {} as KubeConfig;
  const object = (namespace: string | undefined, name: string, extra = {}): LiveObject => ({
    metadata: { name, ...(namespace ? { namespace } : {}) },
    ...extra,
  });

  function countingLister(cluster: Record<string, LiveObject[] | undefined>) {
    const calls: string[] = [];
    const list: KindLister = async (_kc, apiVersion, kind) => {
      calls.push(`${apiVersion}/${kind}`);
      return cluster[kind];
    };
    return { calls, list };
  }
  const noGet = async (_kc: KubeConfig, ref: LiveRef) => {
    throw new Error(`GET ${ref.kind} ${ref.name}: the list should have answered`);
  };

  it("lists a kind once however many objects of it are read, and finds each by namespace and name", async () => {
    const { calls, list } = countingLister({
      Role: [object("a", "deployer", { rules: ["a"] }), object("b", "deployer", { rules: ["b"] })],
      ValidatingAdmissionPolicy: [object(undefined, "scoped-cd-a-guardrails")],
    });
    const read = readsByKind(list, noGet);
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", name: "deployer" };
    const found = await Promise.all([
      read(kc, { ...role, namespace: "a" }),
      read(kc, { ...role, namespace: "b" }),
      read(kc, { ...role, namespace: "c" }),
      read(kc, { ...role, namespace: "a", name: "other" }),
      read(kc, {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        name: "scoped-cd-a-guardrails",
      }),
      read(kc, {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        name: "scoped-cd-b-guardrails",
      }),
    ]);
    assert.deepEqual(
      found.map((o) => (o ? ((o as { rules?: string[] }).rules ?? o.metadata?.name) : undefined)),
      [["a"], ["b"], undefined, undefined, "scoped-cd-a-guardrails", undefined],
    );
    assert.deepEqual(calls.sort(), [
      "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
      "rbac.authorization.k8s.io/v1/Role",
    ]);
  });

  it("does not take a cluster-scoped object for a namespaced one of the same name, nor the reverse", async () => {
    const { list } = countingLister({ Role: [object("a", "x")] });
    const read = readsByKind(list, noGet);
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", name: "x" };
    assert.equal(await read(kc, role), undefined);
    assert.ok(await read(kc, { ...role, namespace: "a" }));
  });

  it("lists again for another kubeconfig (another credential or context)", async () => {
    const { calls, list } = countingLister({ Role: [] });
    const read = readsByKind(list, noGet);
    const ref = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", name: "x" };
    await read(kc, ref);
    await read({} as KubeConfig, ref);
    await read(kc, ref);
    assert.equal(calls.length, 2);
  });

  it("reads each object with a GET when the credential may not list its kind", async () => {
    const { calls, list } = countingLister({ Role: undefined });
    const got: string[] = [];
    const read = readsByKind(list, async (_kc, ref) => {
      got.push(`${ref.namespace}/${ref.name}`);
      return ref.name === "deployer" ? object(ref.namespace, ref.name) : undefined;
    });
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", namespace: "a" };
    assert.ok(await read(kc, { ...role, name: "deployer" }));
    assert.equal(await read(kc, { ...role, name: "other" }), undefined);
    assert.deepEqual(calls, ["rbac.authorization.k8s.io/v1/Role"]);
    assert.deepEqual(got, ["a/deployer", "a/other"]);
  });

  it("fails the read, not the lookup, when the list fails", async () => {
    const refused = new pulumi.RunError("cannot list every Role (test)");
    const read = readsByKind(async () => {
      throw refused;
    }, noGet);
    await assert.rejects(
      read(kc, { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", name: "x" }),
      (err) => err === refused,
    );
  });

  it("keeps a whole program run to one list per kind, and the tokens still follow the live objects", async () => {
    const { key, spec } = await declaredLimits();
    const [, namespace, name] = key.split("/");
    const widened = { limits: [...spec.limits, { type: "Container", max: { cpu: "64" } }] };
    const { calls, list } = countingLister({
      LimitRange: [
        object(namespace, name, {
          metadata: { name, namespace, annotations: { [RECONCILE_ANNOTATION]: "abc" } },
          spec: widened,
        }),
      ],
    });
    const result = await runProgram(accessModeConfig(), {
      cluster: { checkAdminCredential: async () => {}, read: readsByKind(list, noGet) },
    });
    if (result.error) throw result.error;
    const token = result.one(LIMITS, "-limits").inputs.metadata.annotations[RECONCILE_ANNOTATION];
    assert.match(token as string, /^[0-9a-f]{12}$/);
    assert.notEqual(token, "abc");
    assert.equal(new Set(calls).size, calls.length, `a kind listed twice: ${calls.join(", ")}`);
    assert.ok(calls.length >= 5, `fewer kinds than the access layer's: ${calls.join(", ")}`);
  });
});
