// scoped-cd: read and validate the stack's configuration, build its stages, export the outputs.
// A function export: the engine awaits it, so nothing is registered before the configuration and
// the admin credential (all/access modes) have been checked.
import { loadConfig } from "./config";
import { deployStack } from "./components/stack";

export = async () => {
  const outputs = await deployStack(loadConfig());
  return {
    /** Stage name -> scoped kubeconfig YAML (secret). Present in `all` and `access` modes. */
    kubeconfigs: outputs.kubeconfigs,
    /** Stage name -> namespace, identity, Tiller and releases (plain). */
    stages: outputs.stages,
    /** The API server's AuthenticationConfiguration for stages using OIDC (plain); else absent. */
    authentication: outputs.authentication,
  };
};
