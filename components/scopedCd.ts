import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PROJECT, StackConfig } from "../config";
import { Promotion } from "./promotion";
import { Stage, StageAccess, StageSummary } from "./stage";

export interface StackOutputs {
  /** Stage name -> scoped kubeconfig YAML; secret. Absent in delivery mode. */
  readonly kubeconfigs?: pulumi.Output<Record<string, string>>;
  /** Stage name -> summary; plain. */
  readonly stages: pulumi.Output<Record<string, StageSummary>>;
}

/** Build every stage of the stack as its mode asks. Config must already be validated. */
export function deployStack(config: StackConfig): StackOutputs {
  const accessFor = accessResolver(config);
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
  return { kubeconfigs, stages: summaries };
}

/** How each stage gets its access layer: declared here (admin provider) or consumed. */
function accessResolver(config: StackConfig): (stage: string) => StageAccess {
  if (config.mode !== "delivery") {
    // The only admin credential the program ever touches; created in all/access mode only.
    const adminProvider = new k8s.Provider("admin", {
      context: config.cluster.context,
      clusterIdentifier: config.cluster.name,
    });
    const server = config.cluster.server ?? pulumi.output(adminServer(config.cluster.context));
    return () => ({ kind: "declare", adminProvider, clusterName: config.cluster.name, server });
  }
  if (config.kubeconfig) {
    const kubeconfig = config.kubeconfig;
    return () => ({ kind: "consume", kubeconfig });
  }
  const ref = new pulumi.StackReference("access", { name: config.accessStack! });
  const kubeconfigs = ref.requireOutput("kubeconfigs") as pulumi.Output<Record<string, string>>;
  const accessStages = ref.requireOutput("stages") as pulumi.Output<Record<string, StageSummary>>;
  return (stage) => ({
    kind: "consume",
    kubeconfig: pulumi.secret(
      kubeconfigs.apply((all) => {
        if (!all?.[stage]) {
          throw new Error(
            `${PROJECT}:accessStack: stack ${config.accessStack} has no kubeconfig for stage ${stage}`,
          );
        }
        return all[stage];
      }),
    ),
    accessSummary: accessStages.apply((all) => all?.[stage]),
  });
}

/** The API server of the admin kubeconfig (KUBECONFIG or ~/.kube/config), for scoped kubeconfigs. */
async function adminServer(context: string | undefined): Promise<string> {
  // client-node is an ES module; this CommonJS program loads it on demand.
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (context) kc.setCurrentContext(context);
  const server = kc.getCurrentCluster()?.server;
  // loadFromDefault falls back to http://localhost:8080 when it finds no kubeconfig at all.
  if (!server || server === "http://localhost:8080") {
    throw new pulumi.RunError(
      `${PROJECT}:cluster.server: not set, and the admin kubeconfig names no cluster to take it from`,
    );
  }
  return server;
}
