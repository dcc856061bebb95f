// `scoped-cd revoke`, for operators: record in an access stack's config that one build's OIDC ID
// tokens (or every token of the stage's jobs issued before a time) are no longer accepted. The
// stack's `authentication` output compiles the entries into the JWT authenticator's claim
// validation rules; they take effect once the operator's API server has loaded that file. Entries
// expire one ID-token lifetime (`oidc.tokenLifetimeSeconds`) after the tokens they cover were
// issued; each revoke drops the expired ones, so the list stays short.
import * as path from "node:path";
import { Command, Option } from "commander";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import {
  activeRevocations,
  DEFAULT_ID_TOKEN_LIFETIME_SECONDS,
  parseBuild,
  RevocationEntry,
  revocationExpiresAt,
} from "../../policy/credentials";
import { CliError, commandFailure } from "../errors";
import { EXIT_OK, ExitCode } from "../exitCodes";
import { Io } from "../io";
import { stackMode } from "../lib/stages";
import { stackOption, stageOption, workDirOption } from "../options";

export interface RevokeArgs {
  readonly stack: string;
  readonly stage: string;
  readonly entry: { readonly build: string } | { readonly issuedBefore: string };
  readonly workDir: string;
}

interface RevokeOptions {
  stack?: string;
  stage?: string;
  build?: string;
  issuedBefore?: string;
  workDir: string;
}

export function defineRevoke(program: Command): Command {
  return program
    .command("revoke")
    .summary("operators: stop accepting one build's OIDC ID tokens (or all issued before a time)")
    .description(
      "Record a revocation in an OIDC stage's access-stack config (deployer.credential.oidc.revoked). After `pulumi up` of the access stack, its `authentication` output refuses the build's ID tokens; it takes effect when the API server has reloaded that AuthenticationConfiguration. Expired entries (older than one ID-token lifetime) are dropped.\n\nExit: 0 recorded, 2 could not run.",
    )
    .addOption(stackOption("the access stack (e.g. prod-access)"))
    .addOption(stageOption("the OIDC stage"))
    .addOption(new Option("--build <job>#<n>", "the build whose ID tokens are revoked"))
    .addOption(
      new Option("--issued-before <time>", "revoke every ID token issued before (RFC 3339)"),
    )
    .addOption(workDirOption())
    .addHelpText(
      "after",
      `
Examples:
  $ scoped-cd revoke --stack prod-access --stage prod --build 'https://jenkins.example.com/job/shop/job/deploy/#412'
  $ scoped-cd revoke --stack prod-access --stage prod --issued-before 2026-12-02T13:00:00Z`,
    );
}

export function revokeArgs(opts: RevokeOptions): RevokeArgs {
  if (!opts.stack) throw new CliError("--stack is required");
  if (!opts.stage) throw new CliError("--stage is required");
  if ((opts.build === undefined) === (opts.issuedBefore === undefined)) {
    throw new CliError("give one of --build <job>#<n> or --issued-before <time>");
  }
  if (opts.build !== undefined && !parseBuild(opts.build)) {
    throw new CliError(`--build ${opts.build}: expected <job URL>#<build number>`);
  }
  if (opts.issuedBefore !== undefined && Number.isNaN(Date.parse(opts.issuedBefore))) {
    throw new CliError(`--issued-before ${opts.issuedBefore}: expected an RFC 3339 time`);
  }
  return {
    stack: opts.stack,
    stage: opts.stage,
    entry:
      opts.build !== undefined
        ? { build: opts.build }
        : { issuedBefore: new Date(opts.issuedBefore!).toISOString() },
    workDir: path.resolve(opts.workDir),
  };
}

/** What revoke needs of a stage's OIDC trust (the program validates the rest at `pulumi up`). */
export interface RevocableTrust {
  readonly jobs: readonly string[];
  readonly tokenLifetimeSeconds: number;
  readonly revoked: readonly RevocationEntry[];
}

/** `scoped-cd:stages.<stage>.deployer.credential` as written, with the schema's defaults. */
export function revocableTrust(stage: string, raw: unknown): RevocableTrust {
  interface RawCredential {
    kind?: string;
    oidc?: { jobs?: unknown; tokenLifetimeSeconds?: number; revoked?: RevocationEntry[] };
  }
  const cred = (raw as { deployer?: { credential?: RawCredential } } | undefined)?.deployer
    ?.credential;
  const kind = cred?.kind ?? "token";
  if (kind !== "oidc") {
    throw new CliError(
      `stage ${stage} uses credential kind ${kind}: revoke applies to oidc; for a token kind, change deployer.rotation`,
    );
  }
  const oidc = cred!.oidc ?? {};
  if (!Array.isArray(oidc.jobs) || oidc.jobs.length === 0) {
    throw new CliError(
      `${keyPath(["stages", stage, "deployer", "credential", "oidc", "jobs"])} is not set`,
    );
  }
  return {
    jobs: oidc.jobs as string[],
    tokenLifetimeSeconds: oidc.tokenLifetimeSeconds ?? DEFAULT_ID_TOKEN_LIFETIME_SECONDS,
    revoked: oidc.revoked ?? [],
  };
}

/** `scoped-cd:stages.prod.x["a.b"][0]`, as `pulumi config --path` reads it (config/errors.ts's form). */
function keyPath(path: readonly (string | number)[]): string {
  return (
    "scoped-cd:" +
    path
      .map((seg, i) =>
        typeof seg === "number"
          ? `[${seg}]`
          : seg.includes(".")
            ? `[${JSON.stringify(seg)}]`
            : i === 0
              ? seg
              : `.${seg}`,
      )
      .join("")
  );
}

/** The stage's revocation list after this revoke at `now` (epoch s): expired entries dropped. */
export function revisedRevocations(
  oidc: RevocableTrust,
  entry: RevokeArgs["entry"],
  now: number,
): { revoked: RevocationEntry[]; added: RevocationEntry; dropped: number } {
  if ("build" in entry && !oidc.jobs.includes(parseBuild(entry.build)!.job)) {
    throw new CliError(
      `--build ${entry.build}: the job is not one the stage trusts (deployer.credential.oidc.jobs: ${oidc.jobs.join(", ")})`,
    );
  }
  const added: RevocationEntry =
    "build" in entry ? { build: entry.build, at: new Date(now * 1000).toISOString() } : entry;
  const kept = activeRevocations(oidc.revoked, oidc.tokenLifetimeSeconds, now);
  const revoked = [...kept, added].filter(
    (e) => revocationExpiresAt(e, oidc.tokenLifetimeSeconds) > now,
  );
  return { revoked, added, dropped: oidc.revoked.length - kept.length };
}

/** `--path` config keys and values that write `revoked` (each entry's fields, as strings). */
export function revocationConfigKeys(
  stage: string,
  revoked: readonly RevocationEntry[],
): Record<string, { value: string }> {
  const base = ["stages", stage, "deployer", "credential", "oidc", "revoked"];
  const keys: Record<string, { value: string }> = {};
  revoked.forEach((e, i) => {
    for (const [field, value] of Object.entries(e)) {
      keys[keyPath([...base, i, field])] = { value: String(value) };
    }
  });
  return keys;
}

export async function runRevoke(args: RevokeArgs, io: Io): Promise<ExitCode> {
  const now = Math.floor(Date.now() / 1000);
  let stack;
  try {
    stack = await LocalWorkspace.selectStack({ stackName: args.stack, workDir: args.workDir });
  } catch (err) {
    throw new CliError(`could not select stack ${args.stack}: ${commandFailure(err)}`);
  }
  const mode = await stackMode(stack);
  if (mode === "delivery") {
    throw new CliError(`stack ${args.stack} is a delivery stack: revoke on its access stack`);
  }
  let stages: Record<string, unknown>;
  try {
    stages = JSON.parse((await stack.getConfig("scoped-cd:stages")).value) as Record<
      string,
      unknown
    >;
  } catch (err) {
    throw new CliError(`stack ${args.stack}: cannot read scoped-cd:stages: ${commandFailure(err)}`);
  }
  if (!(args.stage in stages)) {
    throw new CliError(
      `stack ${args.stack} has no stage ${args.stage} (stages: ${Object.keys(stages).join(", ")})`,
    );
  }
  const trust = revocableTrust(args.stage, stages[args.stage]);
  const { revoked, added, dropped } = revisedRevocations(trust, args.entry, now);
  const listKey = keyPath(["stages", args.stage, "deployer", "credential", "oidc", "revoked"]);
  try {
    if (trust.revoked.length > 0) await stack.removeConfig(listKey, true);
    await stack.setAllConfig(revocationConfigKeys(args.stage, revoked), true);
  } catch (err) {
    throw new CliError(`could not write ${listKey}: ${commandFailure(err)}`);
  }
  const what =
    "build" in added ? `build ${added.build}` : `tokens issued before ${added.issuedBefore}`;
  const expires = new Date(
    revocationExpiresAt(added, trust.tokenLifetimeSeconds) * 1000,
  ).toISOString();
  io.stdout(
    `revoked ${what} of stage ${args.stage} (entry expires ${expires}); ${revoked.length} in force, ${dropped} expired dropped\n` +
      `next: pulumi up ${args.stack}, then install its \`authentication\` output as the API server's --authentication-config (it takes effect when the API server reloads it)\n`,
  );
  return EXIT_OK;
}
