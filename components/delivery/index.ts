// The delivery layer: releases through the scoped provider, and promotion between stacks.
export { Promotion, promotionGate } from "./promotion";
export { StageReleases, StageReleasesArgs } from "./stageReleases";
