// A stack's outputs read from its export (`pulumi stack export --show-secrets`, as the Automation
// API's exportStack runs it), in the shape the Automation API's `outputs()` gives them: the access
// up reads the export for its sweep anyway, and each further `stack output` run would load and
// decrypt the whole state again.
import type { OutputMap } from "@pulumi/pulumi/automation";

/** The marker of a secret value in a checkpoint (its decrypted JSON in `plaintext`). */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

interface Decoded {
  readonly value: unknown;
  readonly secret: boolean;
}

function decode(v: unknown): Decoded {
  if (Array.isArray(v)) {
    const items = v.map(decode);
    return { value: items.map((i) => i.value), secret: items.some((i) => i.secret) };
  }
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[SECRET_SIG] !== undefined) {
      if (typeof o.plaintext !== "string") {
        throw new Error(
          "the export holds an encrypted secret output: export it with --show-secrets",
        );
      }
      return { value: decode(JSON.parse(o.plaintext)).value, secret: true };
    }
    const entries = Object.entries(o).map(([k, x]) => [k, decode(x)] as const);
    return {
      value: Object.fromEntries(entries.map(([k, d]) => [k, d.value])),
      secret: entries.some(([, d]) => d.secret),
    };
  }
  return { value: v, secret: false };
}

/** The root stack resource's outputs; a value holding a secret anywhere counts as a secret. */
export function exportedOutputs(exported: unknown): OutputMap {
  type Exported = { deployment?: { resources?: { type?: string; outputs?: unknown }[] } };
  const resources = (exported as Exported | undefined)?.deployment?.resources ?? [];
  const root = resources.find((r) => r?.type === "pulumi:pulumi:Stack");
  return Object.fromEntries(
    Object.entries((root?.outputs ?? {}) as Record<string, unknown>).map(([k, v]) => [
      k,
      decode(v),
    ]),
  );
}
