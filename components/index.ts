// scoped-cd as a library (package.json `exports`): the components with their documented args, for
// another Pulumi TypeScript program. docs/development.md "Using the components from your own
// program".
export { ConfigError, stageConfig, StageConfig } from "../config";
export * from "./access";
export * from "./delivery";
export * from "./outputs";
export { Stage, StageAccess, StageArgs } from "./stage";
export { deployStack, StackOutputs } from "./stack";
