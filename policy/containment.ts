// The containment matrix of the security model (docs/security.md "Checking containment") as data:
// what a stage's scoped identity must be allowed, and what it must be refused. `scoped-cd verify`
// asks the API server about each entry as that identity, so a Role that grew, a binding someone
// added by hand or a wrong kubeconfig shows up as a surprise in the Jenkins build, not in an
// incident.

export type Expectation = "allowed" | "forbidden";

/** What the API server is asked about: the attributes of one request. */
export interface AccessRequest {
  readonly namespace?: string;
  readonly verb: string;
  readonly group: string;
  readonly resource: string;
  readonly subresource?: string;
  readonly name?: string;
}

export interface ContainmentCheck {
  readonly description: string;
  readonly resourceAttributes: AccessRequest;
  readonly expect: Expectation;
  /** Why the expectation holds, for whoever reads a surprise. */
  readonly note?: string;
}

export interface MatrixOptions {
  /** The stage's namespace, where the deployer works. */
  readonly namespace: string;
  /** A namespace the deployer must not reach besides kube-system (e.g. `default`). */
  readonly otherNamespace: string;
  /**
   * Whether the stage runs Tiller in the cluster (the deployer then holds pods/portforward; a local
   * Tiller needs none). Undefined when not known (a delivery stack fed by secret config): the
   * port-forward check is left out.
   */
  readonly tiller: boolean | undefined;
  /**
   * Whether the stage enables Tiller in either mode (the deployer may then read its own Namespace,
   * which Tiller v2 needs). Undefined when not known: that check is left out.
   */
  readonly tillerEnabled?: boolean | undefined;
}

const RBAC = "rbac.authorization.k8s.io";
const ADMISSION = "admissionregistration.k8s.io";
const MANAGED: readonly (readonly [group: string, resource: string])[] = [
  ["apps", "deployments"],
  ["", "services"],
  ["", "configmaps"],
  ["", "secrets"],
];

function describe(r: AccessRequest): string {
  const resource = `${r.group ? `${r.group}/` : ""}${r.resource}${r.subresource ? `/${r.subresource}` : ""}`;
  const named = r.name ? ` ${r.name}` : "";
  const where = r.namespace ? ` in ${r.namespace}` : " (cluster)";
  return `${r.verb} ${resource}${named}${where}`;
}

/** The matrix for one stage: what the deployer must be able to do, and what it must not. */
export function buildContainmentMatrix(opts: MatrixOptions): ContainmentCheck[] {
  const { namespace: ns, otherNamespace: other } = opts;
  if (ns === other || other === "kube-system") {
    throw new Error(
      `the other namespace must differ from the stage's (${ns}) and from kube-system; got ${other}`,
    );
  }
  const checks: ContainmentCheck[] = [];
  const allowed = (r: AccessRequest, note?: string) =>
    checks.push({ description: describe(r), resourceAttributes: r, expect: "allowed", note });
  const forbidden = (r: AccessRequest, note?: string) =>
    checks.push({ description: describe(r), resourceAttributes: r, expect: "forbidden", note });

  // What Helm and Pulumi need in the stage's namespace.
  for (const [group, resource] of MANAGED) {
    for (const verb of ["create", "update", "delete"]) {
      allowed({ namespace: ns, verb, group, resource }, "charts ship it; Helm 3 stores releases");
    }
  }
  allowed({ namespace: ns, verb: "list", group: "", resource: "pods" }, "await logic");
  allowed(
    { namespace: ns, verb: "get", group: "", resource: "pods", subresource: "log" },
    "logs of a failed rollout",
  );
  if (opts.tiller !== undefined) {
    const portForward: AccessRequest = {
      namespace: ns,
      verb: "create",
      group: "",
      resource: "pods",
      subresource: "portforward",
    };
    if (opts.tiller) allowed(portForward, "Helm v2 clients reach Tiller through port-forward");
    else forbidden(portForward, "only granted when Tiller runs in the cluster");
  }

  // Nothing outside the namespace.
  for (const elsewhere of ["kube-system", other]) {
    forbidden({ namespace: elsewhere, verb: "get", group: "", resource: "secrets" });
    forbidden({ namespace: elsewhere, verb: "list", group: "", resource: "pods" });
    forbidden({ namespace: elsewhere, verb: "create", group: "apps", resource: "deployments" });
  }

  // Nothing cluster-scoped.
  for (const [group, resource] of [
    ["", "namespaces"],
    [RBAC, "clusterroles"],
    [RBAC, "clusterrolebindings"],
    ["", "persistentvolumes"],
    ["apiextensions.k8s.io", "customresourcedefinitions"],
    [ADMISSION, "validatingwebhookconfigurations"],
    [ADMISSION, "mutatingwebhookconfigurations"],
  ] as const) {
    forbidden({ verb: "create", group, resource });
  }
  forbidden(
    {
      verb: "update",
      group: "certificates.k8s.io",
      resource: "certificatesigningrequests",
      subresource: "approval",
    },
    "approving CSRs mints cluster credentials",
  );

  // No way to a wider identity from inside the namespace.
  forbidden(
    { namespace: ns, verb: "create", group: "", resource: "serviceaccounts", subresource: "token" },
    "token minting",
  );
  forbidden({ namespace: ns, verb: "impersonate", group: "", resource: "serviceaccounts" });
  forbidden({ verb: "impersonate", group: "", resource: "users" });
  forbidden({ verb: "impersonate", group: "", resource: "groups" });
  for (const verb of ["bind", "escalate"]) {
    forbidden({ namespace: ns, verb, group: RBAC, resource: "roles" });
    forbidden({ verb, group: RBAC, resource: "clusterroles" });
  }
  for (const subresource of ["exec", "attach"]) {
    forbidden({ namespace: ns, verb: "create", group: "", resource: "pods", subresource });
  }

  // Its own Namespace (labels carry Pod Security Admission) and guardrails stay as declared.
  // The namespace attribute is set too: that is how the API server sees a request for
  // /api/v1/namespaces/<ns>, so a Role inside the namespace granting `namespaces` is caught.
  const ownNamespace = (verb: string): AccessRequest => ({
    namespace: ns,
    verb,
    group: "",
    resource: "namespaces",
    name: ns,
  });
  if (opts.tillerEnabled === true) {
    allowed(ownNamespace("get"), "Tiller v2 reads its release namespace before every install");
  } else if (opts.tillerEnabled === false) {
    forbidden(ownNamespace("get"), "only granted when the stage enables Tiller");
  }
  forbidden(ownNamespace("patch"), "Pod Security Admission labels live on the Namespace");
  for (const [group, resource] of [
    ["", "resourcequotas"],
    ["", "limitranges"],
    ["networking.k8s.io", "networkpolicies"],
  ] as const) {
    for (const verb of ["update", "patch", "delete"]) {
      forbidden({ namespace: ns, verb, group, resource }, "guardrail");
    }
  }
  return checks;
}
