// Package provider maps terraform-provider-random onto the Pulumi "random" package, with the
// tokens and IDs that @pulumi/random's SDK uses (random:index/randomString:RandomString, ...).
package provider

import (
	"context"
	_ "embed"
	"fmt"
	"unicode"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Version is stamped by scripts/toolchain.sh (-ldflags -X) with the @pulumi/random version.
var Version string

// Written by the tfgen step (bridge metadata: renames and the like), then embedded.
//
//go:embed bridge-metadata.json
var bridgeMetadata []byte

func resourceToken(name string) tokens.Type {
	file := string(unicode.ToLower(rune(name[0]))) + name[1:]
	return tokens.Type("random:index/" + file + ":" + name)
}

// random_bytes has no "id" attribute in Terraform; upstream uses the base64 value as the ID.
func computeRandomBytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	b, ok := state["base64"]
	if !ok {
		return "", fmt.Errorf("no base64 property in random_bytes state")
	}
	if b.IsSecret() {
		b = b.SecretValue().Element
	}
	if !b.IsString() {
		return "", fmt.Errorf("random_bytes: base64 is not a string")
	}
	return resource.ID(b.StringValue()), nil
}

// Provider returns the bridge's description of the random provider.
func Provider() tfbridge.ProviderInfo {
	return tfbridge.ProviderInfo{
		Name:        "random",
		P:           pftfbridge.ShimProvider(shim.NewProvider()),
		Version:     Version,
		DisplayName: "random",
		Description: "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:    []string{"pulumi", "random"},
		License:     "Apache-2.0",
		Homepage:    "https://pulumi.io",
		Repository:  "https://github.com/pulumi/pulumi-random",
		Resources: map[string]*tfbridge.ResourceInfo{
			"random_bytes":    {Tok: resourceToken("RandomBytes"), ComputeID: computeRandomBytesID},
			"random_id":       {Tok: resourceToken("RandomId")},
			"random_integer":  {Tok: resourceToken("RandomInteger")},
			"random_password": {Tok: resourceToken("RandomPassword")},
			"random_pet":      {Tok: resourceToken("RandomPet")},
			"random_shuffle":  {Tok: resourceToken("RandomShuffle")},
			"random_string":   {Tok: resourceToken("RandomString")},
			"random_uuid":     {Tok: resourceToken("RandomUuid")},
			"random_uuid4":    {Tok: resourceToken("RandomUuid4")},
			"random_uuid7":    {Tok: resourceToken("RandomUuid7")},
		},
		MetadataInfo: tfbridge.NewProviderMetadata(bridgeMetadata),
	}
}
