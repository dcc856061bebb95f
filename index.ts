// scoped-cd: read and validate the stack's configuration, build its stages, export the outputs.
// A function export: the engine awaits it, so nothing is registered before the configuration and
// the admin credential (all/access modes) have been checked.
import { loadConfig } from "./config";
import { deployStack } from "./components/stack";
import { API_SERVER } from "./components/access/adminProvider";
import { LiveCluster } from "./components/access/liveCluster";
import { skipSdkPromiseStacks } from "./components/sdkRuntime";

skipSdkPromiseStacks();

// The engine calls this with no argument (the live API server); the unit tests hand it an
// offline stand-in for the admin credential check and the live reads.
export = async (cluster: LiveCluster = API_SERVER) => {
  const outputs = await deployStack(loadConfig(), cluster);
  return {
    /** Stage name -> scoped kubeconfig YAML (secret). Present in `all` and `access` modes. */
    kubeconfigs: outputs.kubeconfigs,
    /** Stage name -> namespace, identity, Tiller and releases (plain). */
    stages: outputs.stages,
    /** The API server's AuthenticationConfiguration for stages using OIDC (plain); else absent. */
    authentication: outputs.authentication,
  };
};
