// The pod sandbox ("pause") program of the local node's images: nothing can be pulled here.
module scoped-cd.local/toolchain/images/pause

go 1.25.0
