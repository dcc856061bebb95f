// Read the stack's configuration from the engine and validate it before any resource exists.
import * as pulumi from "@pulumi/pulumi";
import { ConfigError } from "./errors";
import { parseConfig } from "./parse";
import { PROJECT, StackConfig, stackSchema } from "./schema";

const TOP_LEVEL_KEYS = Object.keys(stackSchema.shape);

/**
 * Read the `scoped-cd:` namespace of the stack's configuration. Objects arrive as JSON text;
 * scalars as plain strings. The secret kubeconfig is only checked for presence here.
 */
export function readRawConfig(): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const prefix = `${PROJECT}:`;
  for (const [fullKey, text] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    if (key === "kubeconfig") {
      raw[key] = "[secret]";
    } else if (TOP_LEVEL_KEYS.includes(key) && key !== "mode" && key !== "accessStack") {
      raw[key] = parseJson(text);
    } else {
      raw[key] = text;
    }
  }
  return raw;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text; // a scalar where an object belongs: the schema reports the wrong type
  }
}

/** Read and validate the stack's configuration, or throw a ConfigError listing every problem. */
export function loadConfig(): StackConfig<pulumi.Output<string>> {
  const raw = readRawConfig();
  const kubeconfig =
    raw.kubeconfig !== undefined
      ? new pulumi.Config(PROJECT).requireSecret("kubeconfig")
      : undefined;
  const { config, problems } = parseConfig(raw, kubeconfig);
  if (!config) throw new ConfigError(problems);
  return config;
}
