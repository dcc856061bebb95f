// The bench's pure helpers with fixed numbers (the bench's own figures are never asserted).
import * as assert from "node:assert/strict";
import { fitLine, formatNumber, median, ratios, renderTable, summarize } from "../../bench/stats";

describe("bench helpers", () => {
  it("summarizes runs: median (odd and even counts), min, max", () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.deepEqual(summarize([5, 1, 9, 3, 7]), { median: 5, min: 1, max: 9, n: 5 });
    assert.ok(Number.isNaN(summarize([]).median));
    assert.deepEqual(summarize([NaN, 4, 2]), { median: 3, min: 2, max: 4, n: 2 });
  });

  it("fits a line by least squares, with r²", () => {
    const exact = fitLine([
      { x: 1, y: 12 },
      { x: 10, y: 30 },
      { x: 50, y: 110 },
    ]);
    assert.ok(Math.abs(exact.slope - 2) < 1e-9);
    assert.ok(Math.abs(exact.intercept - 10) < 1e-9);
    assert.ok(Math.abs(exact.r2 - 1) < 1e-9);
    const noisy = fitLine([
      { x: 0, y: 1 },
      { x: 0, y: 3 },
      { x: 2, y: 5 },
      { x: 2, y: 7 },
    ]);
    assert.equal(noisy.slope, 2);
    assert.equal(noisy.intercept, 2);
    assert.ok(Math.abs(noisy.r2 - 0.8) < 1e-9);
    assert.ok(Number.isNaN(fitLine([{ x: 1, y: 1 }]).slope));
  });

  it("takes ratios run by run", () => {
    assert.deepEqual(ratios([2, 9, 4, NaN], [1, 3, 0, 1]), [2, 3]);
  });

  it("renders a Markdown table of median, min, max and runs", () => {
    assert.equal(formatNumber(123.4), "123 s");
    assert.equal(formatNumber(12.34), "12.3 s");
    assert.equal(formatNumber(1.234), "1.23 s");
    assert.equal(formatNumber(0.1234, "ms"), "0.123 ms");
    assert.equal(formatNumber(2.345, "x"), "2.35x");
    assert.equal(formatNumber(NaN), "n/a");
    assert.equal(
      renderTable([
        { name: "preview", values: [3, 1, 2] },
        { name: "ratio", values: [2, 2.5, 3], unit: "x", note: "target < 3x" },
      ]),
      [
        "| measurement | median |    min |    max | runs | note        |",
        "| ----------- | -----: | -----: | -----: | ---: | ----------- |",
        "| preview     | 2.00 s | 1.00 s | 3.00 s |    3 |             |",
        "| ratio       |  2.50x |  2.00x |  3.00x |    3 | target < 3x |",
        "",
      ].join("\n"),
    );
  });
});
