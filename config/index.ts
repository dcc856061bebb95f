// The configuration layer: schema, cross-field rules, errors, loading. Imports policy/, never
// components/.
export { ConfigError, keyPath } from "./errors";
export { loadConfig, readRawConfig } from "./load";
export { parseConfig, stageConfig } from "./parse";
export * from "./schema";
