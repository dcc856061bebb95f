// Wrapper module for pulumi-resource-kubernetes. The provider module has no release tags of its
// own and its cmd/ main embeds two generated, git-ignored files (schema-embed.json,
// terraform-mapping-embed.json), so it cannot be `go install`ed. main.go here is the same program;
// scripts/toolchain.sh writes the two embed files from the module's committed schema.json and
// terraform-mapping.json before building.
//
// SUBSTITUTE SOURCE: the module proxy reachable here serves exactly one version of
// github.com/pulumi/pulumi-kubernetes/provider/v4: the pseudo-version below (commit f47bc2d6,
// 2026-01-15, the day before the sdk/v4.25.0 tag). The source of 4.34.2 (what @pulumi/kubernetes
// 4.34.2 asks for) is not available. versions.env pins this module version; the binary reports
// the npm-requested version so the engine accepts it. See the toolchain notes.
module scoped-cd.local/toolchain/kubernetes-provider

go 1.24.7

require (
	github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199
	// The provider's go.mod replaces sdk/v4 with ../sdk; use the published twin it requires.
	github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.24.0
)
