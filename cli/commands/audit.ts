// `scoped-cd audit`: every write one identity made, from an API server audit log (JSON lines, a
// file or stdin, as exported from the cluster or the cloud's logging). An OIDC build by
// `--build <job>#<n>`, a token kind's credential by `--credential-id JTI=<jti>` (the `stages`
// output's credentialId).
import * as fs from "node:fs";
import { Command, Option } from "commander";
import { auditWrites, AuditQuery } from "../../policy/audit";
import { CliError } from "../errors";
import { EXIT_OK, ExitCode } from "../exitCodes";
import { Io } from "../io";
import { outputOption } from "../options";
import { renderTable } from "../lib/table";

export interface AuditArgs {
  readonly log: string;
  readonly query: AuditQuery;
  readonly output: "text" | "json";
}

interface AuditOptions {
  log?: string;
  build?: string;
  credentialId?: string;
  namespace?: string;
  since?: string;
  until?: string;
  output: "text" | "json";
}

export function defineAudit(program: Command): Command {
  return program
    .command("audit")
    .summary("list every write one build or credential made, from an API server audit log")
    .description(
      "Read an API server audit log (audit.k8s.io/v1 events, one JSON object a line) and list the writes (create, update, patch, delete) of one OIDC build or one token credential: time, verb, resource, name, response code.\n\nExit: 0 listed, 2 could not run.",
    )
    .addOption(new Option("--log <file>", "the audit log (- for stdin)").default("-"))
    .addOption(new Option("--build <job>#<n>", "an OIDC build (user oidc:<job>#<n>)"))
    .addOption(new Option("--credential-id <id>", "a token's credential ID (JTI=<jti>)"))
    .addOption(new Option("--namespace <ns>", "only writes in this namespace (the stage's)"))
    .addOption(new Option("--since <time>", "from (RFC 3339)"))
    .addOption(new Option("--until <time>", "until (RFC 3339)"))
    .addOption(outputOption());
}

const time = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new CliError(`${flag} ${v}: expected an RFC 3339 time`);
  return t;
};

export function auditArgs(opts: AuditOptions): AuditArgs {
  if ((opts.build === undefined) === (opts.credentialId === undefined)) {
    throw new CliError("give one of --build <job>#<n> or --credential-id <id>");
  }
  return {
    log: opts.log ?? "-",
    output: opts.output,
    query: {
      build: opts.build,
      credentialId: opts.credentialId,
      namespace: opts.namespace,
      since: time("--since", opts.since),
      until: time("--until", opts.until),
    },
  };
}

export async function runAudit(args: AuditArgs, io: Io): Promise<ExitCode> {
  let text: string;
  try {
    text = fs.readFileSync(args.log === "-" ? 0 : args.log, "utf8");
  } catch (err) {
    throw new CliError(`cannot read the audit log ${args.log}: ${(err as Error).message}`);
  }
  const writes = auditWrites(text.split("\n"), args.query);
  if (args.output === "json") {
    io.stdout(JSON.stringify(writes, null, 2) + "\n");
    return EXIT_OK;
  }
  io.stdout(
    renderTable([
      ["TIME", "VERB", "RESOURCE", "NAMESPACE", "NAME", "CODE"],
      ...writes.map((w) => [
        w.time,
        w.verb,
        w.resource,
        w.namespace ?? "-",
        w.name ?? "-",
        String(w.code ?? "-"),
      ]),
    ]),
  );
  return EXIT_OK;
}
