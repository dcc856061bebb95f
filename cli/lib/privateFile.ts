// Write a credential to a file only its owner can read: created 0600 (never wider, whatever the
// umask), complete before it replaces the old file, so a failed run leaves no truncated or
// world-readable kubeconfig behind.
import * as fs from "node:fs";
import * as path from "node:path";

export function writePrivateFile(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}`;
  try {
    // "wx": a new file, created 0600 (the umask can only narrow it), never someone's symlink.
    fs.writeFileSync(tmp, content, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, file);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}
