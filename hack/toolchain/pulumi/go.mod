// Wrapper module for the Pulumi CLI: github.com/pulumi/pulumi/pkg/v3 replaces sdk/v3 with a local
// path (../sdk), so `go install .../pkg/v3/cmd/pulumi@v3.x` is refused. Requiring pkg/v3 and sdk/v3
// at the same version from here builds the same CLI. scripts/toolchain.sh sets the version from
// package-lock.json (@pulumi/pulumi) before building.
module scoped-cd.local/toolchain/pulumi

go 1.26.6

require (
	github.com/pulumi/pulumi/pkg/v3 v3.274.1
	github.com/pulumi/pulumi/sdk/v3 v3.274.1
)

// Copied from pkg/v3's own go.mod (v3.274.1): the CLI builds against this fork.
replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
