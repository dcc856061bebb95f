// Build-time helper: writes the Pulumi package schema (and bridge-metadata.json) for the mapping.
package main

import (
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"scoped-cd.local/toolchain/random-provider/provider"
)

func main() { pftfgen.Main("random", provider.Provider()) }
