// Wrapper module: CoreDNS with only the plugins the local cluster's DNS needs (errors, log, health,
// ready, cache, kubernetes), built as CoreDNS documents for custom builds (core/dnsserver's
// Directives + coremain.Run). No `forward`: names outside cluster.local get no answer, so a pod's
// DNS query can never leave the machine. hack/toolchain.sh sets the version from versions.env.
module scoped-cd.local/toolchain/coredns

go 1.25.0

require github.com/coredns/coredns v1.14.7
