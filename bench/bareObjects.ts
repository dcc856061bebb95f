// The Pulumi floor of the access layer (bench, access group): the Kubernetes objects an access stack
// declared, each as one plain resource of the same Kubernetes provider (server-side apply), with no
// components, no dynamic resources, no config validation and no live reads. What this program's `up`
// costs over `kubectl apply --server-side` of the same objects is what any Pulumi program managing
// them pays on this machine, whatever it does besides (docs/performance.md, "Targets").
// Run by bench/bareFloor.ts as its own project; config `bench-bare:objects` names a `kind: List` file.
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** A Kubernetes object by its provider's type token (`kubernetes:<group or core>/<version>:<Kind>`). */
class PlainObject extends pulumi.CustomResource {
  constructor(object: KubeObject, opts: pulumi.CustomResourceOptions) {
    const [group, version] = object.apiVersion.includes("/")
      ? object.apiVersion.split("/")
      : ["core", object.apiVersion];
    const where = object.metadata.namespace ? `${object.metadata.namespace}-` : "";
    super(
      `kubernetes:${group}/${version}:${object.kind}`,
      `${object.kind.toLowerCase()}-${where}${object.metadata.name}`,
      object as unknown as pulumi.Inputs,
      opts,
    );
  }
}

const config = new pulumi.Config("bench-bare");
const list = JSON.parse(fs.readFileSync(config.require("objects"), "utf8")) as {
  items: KubeObject[];
};
const provider = new k8s.Provider("admin", { kubeconfig: config.require("kubeconfig") });
// As in the access layer, a namespace exists before the objects in it.
const namespaces = new Map<string, PlainObject>();
for (const o of list.items.filter((o) => o.kind === "Namespace")) {
  namespaces.set(o.metadata.name, new PlainObject(o, { provider }));
}
for (const o of list.items.filter((o) => o.kind !== "Namespace")) {
  const ns = o.metadata.namespace ? namespaces.get(o.metadata.namespace) : undefined;
  new PlainObject(o, { provider, dependsOn: ns ? [ns] : [] });
}
