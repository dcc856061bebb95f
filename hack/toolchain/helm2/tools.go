//go:build tools

// Keeps the two main packages (and so every dependency) in the module graph; toolchain.sh builds
// them by import path.
package tools

import (
	_ "k8s.io/helm/cmd/helm"
	_ "k8s.io/helm/cmd/tiller"
)
