// Plain-text tables for a terminal or a Jenkins log (verify's matrix, demo's and deploy's stages):
// columns padded to their widest cell, the last column unpadded, no trailing spaces.

export function renderTable(rows: readonly (readonly string[])[]): string {
  if (rows.length === 0) return "";
  const widths = rows[0].map((_, i) => Math.max(...rows.map((cells) => (cells[i] ?? "").length)));
  return rows
    .map((cells) =>
      cells
        .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i])))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
