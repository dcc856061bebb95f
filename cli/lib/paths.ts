// The project root (where Pulumi.yaml is): the default --work-dir. This file runs from
// bin/cli/lib/, three levels below it.
import * as path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "../../..");
