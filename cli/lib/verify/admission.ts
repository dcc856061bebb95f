// Probe a stage's admission guardrails (policy/admissionProbes.ts) as its scoped identity:
// server-side dry-run creates, so nothing is persisted. A probe that must be refused counts only
// when the refusal carries its rule's message; refused for any other reason, or admitted, it is a
// surprise (a missing, weakened or unbound policy fails the build).
import * as crypto from "node:crypto";
import { admissionProbes, refusalText } from "../../../policy/admissionProbes";
import type { CheckRow, StageCheck } from "./types";
import { apiMessage } from "../apiRequest";

export const admissionProbeCheck: StageCheck = {
  name: "admission",
  async run(target) {
    const { KubeConfig, KubernetesObjectApi } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromString(target.kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(kc);
    const id = crypto.randomBytes(3).toString("hex");
    const rows: CheckRow[] = [];
    for (const probe of admissionProbes(target.summary.namespace, id)) {
      let message = "";
      try {
        await api.create(probe.object as never, undefined, "All");
      } catch (err) {
        message = apiMessage(err);
        if (typeof (err as { code?: unknown }).code !== "number") throw err;
      }
      const refusedByRule = probe.rule !== undefined && message.includes(refusalText(probe.rule));
      const ok = probe.expect === "admitted" ? message === "" : refusedByRule;
      rows.push({
        check: "admission",
        description: `dry-run create: ${probe.description}`,
        expected: probe.expect === "admitted" ? "allowed" : "forbidden",
        actual: message === "" ? "allowed" : "forbidden",
        ok,
        ...(probe.rule ? { note: `guardrail ${probe.rule}` } : {}),
        ...(message && !ok ? { reason: message } : {}),
      });
    }
    return rows;
  },
};
