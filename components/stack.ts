import * as pulumi from "@pulumi/pulumi";
import { PROJECT, StackConfig } from "../config";
import { adminAccess, API_SERVER } from "./access/adminProvider";
import { LiveCluster } from "./access/liveCluster";
import { authenticationConfiguration, trustInForce } from "../policy/credentials";
import { Promotion } from "./delivery/promotion";
import { StageSummary } from "./outputs";
import { Stage, StageAccess } from "./stage";

export interface StackOutputs {
  /** Stage name -> scoped kubeconfig YAML; secret. Absent in delivery mode. */
  readonly kubeconfigs?: pulumi.Output<Record<string, string>>;
  /** Stage name -> summary; plain. */
  readonly stages: pulumi.Output<Record<string, StageSummary>>;
  /**
   * The AuthenticationConfiguration operators give the API server for the stages whose
   * credential is `oidc` (plain); absent when no stage uses OIDC or in delivery mode.
   */
  readonly authentication?: ReturnType<typeof authenticationConfiguration>;
}

/**
 * Build every stage of the stack as its mode asks. Config must already be validated; the admin
 * kubeconfig (all/access) is resolved and checked against `cluster` before the first registration.
 */
export async function deployStack(
  config: StackConfig<pulumi.Output<string>>,
  cluster: LiveCluster = API_SERVER,
): Promise<StackOutputs> {
  const accessFor = await accessResolver(config, cluster);
  const upstream = new Map<string, Promotion>();
  const promotionFrom = (stack: string): Promotion => {
    if (!upstream.has(stack)) {
      const ref = new pulumi.StackReference(`promote-from-${stack}`, { name: stack });
      upstream.set(stack, { stack, stages: ref.requireOutput("stages") });
    }
    return upstream.get(stack)!;
  };

  const stages = config.stages.map(
    (stage) =>
      new Stage(stage.name, {
        mode: config.mode,
        config: stage,
        clusterName: config.cluster.name,
        access: accessFor(stage.name),
        promotion: stage.promoteFrom ? promotionFrom(stage.promoteFrom) : undefined,
      }),
  );

  const summaries = pulumi.all(
    Object.fromEntries(stages.map((s, i) => [config.stages[i].name, s.summary])),
  );
  if (config.mode === "delivery") return { stages: summaries };
  const kubeconfigs = pulumi.secret(
    pulumi.all(Object.fromEntries(stages.map((s, i) => [config.stages[i].name, s.kubeconfig!]))),
  );
  const trusts = config.stages.flatMap((s) =>
    s.deployer.credential.kind === "oidc"
      ? // Expired revocations drop out of the output at the next `up` after they expire.
        [trustInForce(s.deployer.credential.oidc!, Math.floor(Date.now() / 1000))]
      : [],
  );
  let authentication: StackOutputs["authentication"];
  if (trusts.length > 0) {
    try {
      authentication = authenticationConfiguration(trusts);
    } catch (err) {
      throw new pulumi.RunError(`${PROJECT}:stages: ${(err as Error).message}`);
    }
  }
  return { kubeconfigs, stages: summaries, authentication };
}

/** How each stage gets its access layer: declared here (admin provider) or consumed. */
async function accessResolver(
  config: StackConfig<pulumi.Output<string>>,
  cluster: LiveCluster,
): Promise<(stage: string) => StageAccess> {
  if (config.mode !== "delivery") {
    const admin = await adminAccess(
      {
        mode: config.mode,
        clusterName: config.cluster.name,
        server: config.cluster.server,
        context: config.cluster.context,
      },
      cluster,
    );
    return () => ({
      kind: "declare",
      adminProvider: admin.provider,
      clusterName: config.cluster.name,
      server: admin.server,
      adminContext: config.cluster.context,
    });
  }
  if (config.kubeconfig) {
    const kubeconfig = config.kubeconfig;
    return () => ({ kind: "consume", kubeconfig });
  }
  const ref = new pulumi.StackReference("access", { name: config.accessStack! });
  // Read before any release is registered, so that a stage the access stack lacks fails the
  // preview with its name instead of an error deep inside the scoped provider's inputs.
  const details = await ref.getOutputDetails("kubeconfigs");
  const kubeconfigs = (details.secretValue ?? details.value ?? {}) as Record<string, string>;
  const missing = config.stages.map((s) => s.name).filter((stage) => !kubeconfigs[stage]);
  if (missing.length > 0) {
    const has = Object.keys(kubeconfigs);
    throw new pulumi.RunError(
      `${PROJECT}:accessStack: stack ${config.accessStack} exports no kubeconfig for stage ${missing.join(", ")} ` +
        `(it has ${has.length > 0 ? has.join(", ") : "none: has it been deployed?"}); ` +
        "declare the stage in the access stack and run its `up`, or fix the stage name",
    );
  }
  const accessStages = ref.requireOutput("stages") as pulumi.Output<Record<string, StageSummary>>;
  return (stage) => ({
    kind: "consume",
    kubeconfig: pulumi.secret(kubeconfigs[stage]),
    accessSummary: accessStages.apply((all) => all?.[stage]),
  });
}
