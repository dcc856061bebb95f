// Issue 20: what an access `up` killed before its only checkpoint leaves, and what the next `up`
// removes (policy/leftovers.ts, cli/lib/accessLeftovers.ts). The program half shows that the
// sweep's selector covers every identity object the access layer creates, whatever the
// credential kind and with Tiller on.
import * as assert from "node:assert/strict";
import { stateIdentities } from "../../cli/lib/accessLeftovers";
import {
  deletionOrder,
  foreignIdentities,
  IDENTITY_COMPONENTS,
  ListedIdentityObject,
  leftoverIdentities,
  TOKEN_REQUEST_TYPE,
} from "../../policy/leftovers";
import { accessModeConfig } from "./fixtures";
import { runProgram } from "./harness";

const at = (iso: string) => new Date(iso);

function identity(
  kind: "ServiceAccount" | "Secret",
  namespace: string,
  name: string,
  created: string | undefined,
  component = "deployer",
): ListedIdentityObject {
  return {
    kind,
    namespace,
    name,
    creationTimestamp: created,
    labels: {
      "app.kubernetes.io/managed-by": "scoped-cd",
      "app.kubernetes.io/component": component,
      "scoped-cd.io/stage": "prod",
    },
  };
}

describe("leftovers: the identities an interrupted access up left", () => {
  const state = {
    known: new Set([
      "ServiceAccount shop-prod/deployer-abc123",
      "Secret shop-prod/deployer-abc123-cred-1",
    ]),
    namespaces: new Set(["shop-prod"]),
  };
  const started = at("2026-12-03T10:00:00.700Z");

  it("names what the state does not hold, in the stack's namespaces, created before the up", () => {
    const listed = [
      identity("ServiceAccount", "shop-prod", "deployer-abc123", "2026-12-03T09:00:00Z"), // known
      identity("ServiceAccount", "shop-prod", "deployer-lost01", "2026-12-03T09:59:00Z"), // lost run
      identity("Secret", "shop-prod", "deployer-lost01-cred-9", "2026-12-03T09:59:01Z"),
      identity("ServiceAccount", "shop-prod", "tiller-lost01", "2026-12-03T09:59:02Z", "tiller"),
      identity("ServiceAccount", "other-stack-ns", "deployer-zzz", "2026-12-03T09:00:00Z"),
      identity("ServiceAccount", "shop-prod", "deployer-newer", "2026-12-03T10:00:00Z"), // same second
      identity("ServiceAccount", "shop-prod", "deployer-notime", undefined),
      identity("ServiceAccount", "shop-prod", "webapp", "2026-12-03T09:00:00Z", "namespace"),
    ];
    const names = leftoverIdentities(listed, state, started).map((o) => `${o.kind} ${o.name}`);
    assert.deepEqual(names, [
      "ServiceAccount deployer-lost01",
      "Secret deployer-lost01-cred-9",
      "ServiceAccount tiller-lost01",
    ]);
  });

  it("leaves alone an object without scoped-cd's label, even with the component label", () => {
    const foreign: ListedIdentityObject = {
      ...identity("ServiceAccount", "shop-prod", "deployer-x", "2026-12-03T09:00:00Z"),
      labels: { "app.kubernetes.io/component": "deployer" },
    };
    assert.deepEqual(leftoverIdentities([foreign], state, started), []);
  });

  it("removes the ServiceAccounts first: every token minted for one dies with it", () => {
    const order = deletionOrder([
      identity("Secret", "shop-prod", "b", "2026-12-03T09:00:00Z"),
      identity("ServiceAccount", "shop-prod", "z", "2026-12-03T09:00:00Z"),
      identity("ServiceAccount", "shop-prod", "a", "2026-12-03T09:00:00Z"),
    ]).map((o) => `${o.kind} ${o.name}`);
    assert.deepEqual(order, ["ServiceAccount a", "ServiceAccount z", "Secret b"]);
  });

  it("verify: names identity objects of none of the stage's current identities", () => {
    const listed = [
      identity("ServiceAccount", "shop-prod", "deployer-abc123", "2026-12-03T09:00:00Z"),
      identity("Secret", "shop-prod", "deployer-abc123-cred-1", "2026-12-03T09:00:00Z"),
      identity("ServiceAccount", "shop-prod", "tiller-abc123", "2026-12-03T09:00:00Z", "tiller"),
      identity("ServiceAccount", "shop-prod", "deployer-lost01", "2026-12-03T09:00:00Z"),
      identity("Secret", "shop-prod", "deployer-lost01-cred-9", "2026-12-03T09:00:00Z"),
      identity("ServiceAccount", "shop-prod", "tiller-lost01", "2026-12-03T09:00:00Z", "tiller"),
      identity("ServiceAccount", "shop-prod", "web", "2026-12-03T09:00:00Z", "namespace"),
    ];
    const names = (current: Parameters<typeof foreignIdentities>[1]) =>
      foreignIdentities(listed, current).map((o) => o.name);
    assert.deepEqual(names({ deployer: "deployer-abc123", tiller: "tiller-abc123" }), [
      "deployer-lost01",
      "deployer-lost01-cred-9",
      "tiller-lost01",
    ]);
    // Tiller's identity unknown: its objects are not judged; the deployer's still are.
    assert.deepEqual(names({ deployer: "deployer-abc123" }), [
      "deployer-lost01",
      "deployer-lost01-cred-9",
    ]);
    assert.deepEqual(names({}), []);
  });

  it("reads the known identities and namespaces from an exported state", () => {
    const exported = {
      deployment: {
        resources: [
          { type: "kubernetes:core/v1:Namespace", outputs: { metadata: { name: "shop-prod" } } },
          {
            type: "kubernetes:core/v1:ServiceAccount",
            outputs: { metadata: { name: "deployer-abc123", namespace: "shop-prod" } },
          },
          {
            type: "kubernetes:core/v1:Secret",
            outputs: { metadata: { name: "deployer-abc123-token", namespace: "shop-prod" } },
          },
          {
            type: TOKEN_REQUEST_TYPE,
            outputs: {
              namespace: "shop-prod",
              bindingName: "deployer-abc123-cred-2",
              previousBindingName: "deployer-abc123-cred-1",
              token: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270" },
            },
          },
          {
            type: "pulumi-nodejs:dynamic/scoped-cd:IdentityDeletion",
            outputs: { namespace: "shop-prod", path: "/api/v1/x", bindingName: "not-a-binding" },
          },
        ],
      },
    };
    const read = stateIdentities(exported, ["shop-staging"]);
    assert.deepEqual([...read.namespaces].sort(), ["shop-prod", "shop-staging"]);
    assert.deepEqual([...read.known].sort(), [
      "Secret shop-prod/deployer-abc123-cred-1",
      "Secret shop-prod/deployer-abc123-cred-2",
      "Secret shop-prod/deployer-abc123-token",
      "ServiceAccount shop-prod/deployer-abc123",
    ]);
    assert.deepEqual(stateIdentities({}, []).known.size, 0);
  });

  for (const kind of ["token", "legacy"] as const) {
    it(`covers every identity object the access layer declares (credential ${kind}, Tiller on)`, async () => {
      const config = accessModeConfig();
      config.stages.prod.tiller = { enabled: true };
      config.stages.prod.deployer = { credential: { kind } };
      const result = await runProgram(config);
      assert.equal(result.error, undefined, String(result.error));
      const identities = [
        ...result.byType("kubernetes:core/v1:ServiceAccount"),
        ...result.byType("kubernetes:core/v1:Secret"),
      ];
      assert.ok(identities.length >= 2, "the deployer's and Tiller's ServiceAccounts at least");
      for (const r of identities) {
        const labels = r.inputs.metadata?.labels ?? {};
        assert.equal(labels["app.kubernetes.io/managed-by"], "scoped-cd", r.name);
        assert.ok(
          (IDENTITY_COMPONENTS as readonly string[]).includes(
            labels["app.kubernetes.io/component"],
          ),
          `${r.name}: component ${labels["app.kubernetes.io/component"]}`,
        );
      }
      // The token binding Secrets the TokenRequest provider creates carry the deployer's labels.
      const tokenRequests = result.byType(TOKEN_REQUEST_TYPE);
      assert.equal(tokenRequests.length, kind === "token" ? 1 : 0);
      for (const r of tokenRequests) {
        assert.equal(r.inputs.labels["app.kubernetes.io/component"], "deployer");
      }
    });
  }
});
