// The exit codes of every `scoped-cd` subcommand, in one place so Jenkins (docs/jenkins.md) and
// the tests can rely on them.

/** Done, and nothing found: deployed, clean, every check as expected. */
export const EXIT_OK = 0;
/** Ran, and found something: drift or planned changes (drift), a surprise (verify). */
export const EXIT_FOUND = 1;
/** Could not run: a usage error, a missing file, an unreachable backend or API server. */
export const EXIT_COULD_NOT_RUN = 2;
/** The operator answered "no" when asked to confirm (handoff). */
export const EXIT_DECLINED = 3;

export type ExitCode =
  typeof EXIT_OK | typeof EXIT_FOUND | typeof EXIT_COULD_NOT_RUN | typeof EXIT_DECLINED;
