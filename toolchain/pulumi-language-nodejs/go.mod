// Our own Node.js language host (see main.go for why). scripts/toolchain.sh sets the sdk/v3 version
// to the Pulumi CLI version before building.
module scoped-cd.local/toolchain/pulumi-language-nodejs

go 1.26.6

require github.com/pulumi/pulumi/sdk/v3 v3.274.1
