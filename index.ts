// scoped-cd: read and validate the stack's configuration, build its stages, export the outputs.
import { loadConfig } from "./config";
import { deployStack } from "./components/scopedCd";

const outputs = deployStack(loadConfig());

/** Stage name -> scoped kubeconfig YAML (secret). Present in `all` and `access` modes. */
export const kubeconfigs = outputs.kubeconfigs;
/** Stage name -> namespace, identity, Tiller and releases (plain). */
export const stages = outputs.stages;
