// Program cost, run as its own process (`node bin/bench/program.js <warmup> <runs>`, JSON on
// stdout): the registrations of one stage (the unit tests' `all`-mode fixture: namespace,
// guardrails, deployer, Tiller, one release) under the unit harness's Pulumi mocks, against the bare
// SDK registering the same custom resources (same types, names and inputs; no components, no
// config validation, no policy generation) under the same mocks. Both wait for the registrations
// to settle the harness's way; that fixed tail is measured on its own and taken off both.
import * as pulumi from "@pulumi/pulumi";
import { mockRegistrations, Registration, runProgram, settle } from "../test/unit/harness";
import { allModeConfig } from "../test/unit/fixtures";

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Secret inputs come back wrapped; the bare program passes them as secrets again. */
function unwrap(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(unwrap);
  if (value && typeof value === "object") {
    const v = value as Record<string, unknown>;
    if (v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig) {
      return pulumi.secret(unwrap(v.value));
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]));
  }
  return value;
}

class BareResource extends pulumi.CustomResource {}
class BareProvider extends pulumi.ProviderResource {}

async function bare(resources: Registration[]): Promise<number> {
  const registrations = await mockRegistrations("bench-bare");
  const t0 = now();
  const providers = new Map<string, pulumi.ProviderResource>();
  for (const r of resources.filter((r) => r.type.startsWith("pulumi:providers:"))) {
    providers.set(
      r.urn,
      new BareProvider(
        r.type.slice("pulumi:providers:".length),
        r.name,
        unwrap(r.inputs) as pulumi.Inputs,
      ),
    );
  }
  for (const r of resources.filter((r) => !r.type.startsWith("pulumi:providers:"))) {
    const providerUrn = r.provider?.split("::").slice(0, -1).join("::");
    new BareResource(r.type, r.name, unwrap(r.inputs) as pulumi.Inputs, {
      provider: providerUrn ? providers.get(providerUrn) : undefined,
    });
  }
  await settle(registrations);
  return now() - t0;
}

async function emptyTail(): Promise<number> {
  const registrations = await mockRegistrations("bench-empty");
  const t0 = now();
  await settle(registrations);
  return now() - t0;
}

async function main() {
  const warmup = Number(process.argv[2] ?? 1);
  const runs = Number(process.argv[3] ?? 5);
  const program: number[] = [];
  const sdk: number[] = [];
  const tail: number[] = [];
  let resources = 0;
  let components = 0;
  let first = NaN;
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = now();
    const result = await runProgram(allModeConfig());
    const tProgram = now() - t0;
    if (result.error) throw result.error;
    if (i === 0) first = tProgram;
    const custom = result.registrations.filter((r) => r.custom);
    resources = custom.length;
    components = result.registrations.length - custom.length;
    const tBare = await bare(custom);
    const tTail = await emptyTail();
    if (i >= warmup) {
      program.push(tProgram);
      sdk.push(tBare);
      tail.push(tTail);
    }
    process.stderr.write(
      `  program cost ${i < warmup ? "warm-up" : `run ${i - warmup + 1}/${runs}`}: program ${(tProgram * 1000).toFixed(0)} ms, bare SDK ${(tBare * 1000).toFixed(0)} ms, settle ${(tTail * 1000).toFixed(0)} ms (${resources} resources)\n`,
    );
  }
  process.stdout.write(JSON.stringify({ program, sdk, tail, resources, components, first }) + "\n");
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`program cost: ${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  },
);
