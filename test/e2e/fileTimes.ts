// A root-hook plugin (.mocharc.e2e.json `require`): in parallel mode mocha runs root hooks once per
// file, in the file's worker, so each file's wall time (its hooks included) is recorded beside the
// suite's. hack/e2e.sh prints them, longest first, after the run: the schedule it starts the files
// in comes from those figures.
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "../../..");
const RECORD = process.env.E2E_FILE_TIMES ?? path.join(REPO, ".local", "e2e-file-times");
let started = 0;

export const mochaHooks = {
  beforeAll() {
    started = Date.now();
  },
  afterAll(this: Mocha.Context) {
    const file = this.test?.parent?.suites[0]?.file;
    if (!file) return;
    const seconds = Math.round((Date.now() - started) / 1000);
    fs.mkdirSync(path.dirname(RECORD), { recursive: true });
    fs.appendFileSync(RECORD, `${seconds} ${path.relative(REPO, file)}\n`);
  },
};
