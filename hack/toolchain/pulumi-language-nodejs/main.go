// pulumi-language-nodejs: a small Node.js language host for the Pulumi engine.
//
// Why this exists: upstream's host is the module
// github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, and the Go module proxy this
// machine reaches serves no version of it (403 "not available" for every query), nor is it shipped
// in any npm or Debian package. The host is a thin shim, though: it answers the engine over gRPC and
// starts `node <@pulumi/pulumi>/cmd/run ...`; everything else (resource registration, outputs,
// config, secrets) happens between the Node SDK and the engine directly. This implements the parts
// `pulumi preview/up/destroy/refresh/stack` use: Handshake, GetPluginInfo, GetRequiredPackages,
// GetRequiredPlugins, Run, GetProgramDependencies, About, InstallDependencies (npm install).
// Not implemented (Unimplemented): code generation (pulumi convert/package gen-sdk), Pack, Link,
// Template, debugger attach. TypeScript programs run through ts-node exactly as upstream does,
// because that logic lives in @pulumi/pulumi/cmd/run, not in the host.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	// Stamped by scripts/toolchain.sh with -X .../version.Version, like the CLI.
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// exitCodeUserActionable mirrors nodeJSProcessExitedAfterLoggingUserActionableMessage in
// @pulumi/pulumi/cmd/run: the program already reported its error, so the engine should just bail.
const exitCodeUserActionable = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engineAddress string
}

func main() {
	args := []string{}
	for _, a := range os.Args[1:] {
		// Flags the engine may pass (-tracing=..., -root=..., -typescript=...) are not needed here.
		if strings.HasPrefix(a, "-") {
			continue
		}
		args = append(args, a)
	}
	h := &host{}
	if len(args) > 0 {
		h.engineAddress = args[0]
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}
	// The engine reads the port from our first line of stdout.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(version.Version, "v")}, nil
}

// ---- package discovery ---------------------------------------------------------------------

type pkgJSON struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Pulumi               json.RawMessage   `json:"pulumi"`
}

// pulumiField is the "pulumi" section a provider SDK package declares (resource plugin + version).
type pulumiField struct {
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Server   string `json:"server"`
}

func readPkg(path string) (*pkgJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p pkgJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

// resolve finds <dir>/node_modules/<name>/package.json the way Node does: walking up.
func resolve(from, name string) string {
	for dir := from; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "node_modules", name, "package.json")
		if _, err := os.Stat(p); err == nil {
			return p
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}

// pulumiPackages walks the dependency graph of the program's package.json (like upstream's
// host does) and returns every package that declares a resource plugin in its "pulumi" field.
func pulumiPackages(programDir string) ([]*pulumirpc.PackageDependency, error) {
	root := ""
	for dir := programDir; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err == nil {
			root = filepath.Join(dir, "package.json")
			break
		}
		if dir == filepath.Dir(dir) {
			return nil, nil // no package.json: nothing to pre-load, plugins load on demand
		}
	}
	seen := map[string]bool{}
	found := map[string]*pulumirpc.PackageDependency{}
	var walk func(pkgPath string, includeDev bool) error
	walk = func(pkgPath string, includeDev bool) error {
		if seen[pkgPath] {
			return nil
		}
		seen[pkgPath] = true
		p, err := readPkg(pkgPath)
		if err != nil {
			if pkgPath == root {
				return err // the program's own package.json must parse
			}
			return nil // a dependency with an odd package.json cannot be a Pulumi provider SDK
		}
		var pf pulumiField
		if len(p.Pulumi) > 0 && json.Unmarshal(p.Pulumi, &pf) == nil && pf.Resource {
			name := pf.Name
			if name == "" {
				name = strings.TrimPrefix(p.Name, "@pulumi/")
			}
			v := pf.Version
			if v == "" {
				v = p.Version
			}
			key := name + "@" + v
			found[key] = &pulumirpc.PackageDependency{Name: name, Kind: "resource", Version: "v" + strings.TrimPrefix(v, "v"), Server: pf.Server}
		}
		deps := []map[string]string{p.Dependencies, p.OptionalDependencies}
		if includeDev {
			deps = append(deps, p.DevDependencies)
		}
		for _, m := range deps {
			for name := range m {
				if child := resolve(filepath.Dir(pkgPath), name); child != "" {
					if err := walk(child, false); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := walk(root, true); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*pulumirpc.PackageDependency, 0, len(keys))
	for _, k := range keys {
		out = append(out, found[k])
	}
	return out, nil
}

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	return fallback
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := pulumiPackages(programDir(req.GetInfo(), "."))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := pulumiPackages(programDir(req.GetInfo(), req.GetProgram()))
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(pkgs))
	for _, p := range pkgs {
		plugins = append(plugins, &pulumirpc.PluginDependency{Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetProgram())
	root := filepath.Join(dir, "package.json")
	p, err := readPkg(root)
	if err != nil {
		return &pulumirpc.GetProgramDependenciesResponse{}, nil
	}
	var deps []*pulumirpc.DependencyInfo
	for _, m := range []map[string]string{p.Dependencies, p.DevDependencies} {
		for name := range m {
			if child := resolve(dir, name); child != "" {
				if c, err := readPkg(child); err == nil {
					deps = append(deps, &pulumirpc.DependencyInfo{Name: name, Version: c.Version})
				}
			}
		}
	}
	sort.Slice(deps, func(i, j int) bool { return deps[i].Name < deps[j].Name })
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("could not find node on the $PATH")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(strings.TrimPrefix(string(out), "v"))}, nil
}

func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	dir := programDir(req.GetInfo(), req.GetDirectory())
	cmd := exec.Command("npm", "install")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	_ = server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: out})
	if err != nil {
		return fmt.Errorf("npm install in %s failed: %w", dir, err)
	}
	return nil
}

// ---- running the program --------------------------------------------------------------------

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	dir := programDir(info, req.GetPwd())
	if dir == "" {
		dir = "."
	}
	entry := "."
	if info != nil && info.GetEntryPoint() != "" {
		entry = info.GetEntryPoint()
	} else if req.GetProgram() != "" {
		entry = req.GetProgram()
	}
	// Locate @pulumi/pulumi/cmd/run from the program's point of view, as upstream does, so the
	// program and the runner share one copy of the SDK.
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("could not find node on the $PATH")
	}
	loc := exec.Command(node, "-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run'))")
	loc.Dir = dir
	runPath, err := loc.Output()
	if err != nil {
		return nil, fmt.Errorf("it looks like the Pulumi SDK has not been installed; run `npm install` in %s (%v)", dir, err)
	}

	args := []string{strings.TrimSpace(string(runPath))}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	args = append(args, "--monitor", req.GetMonitorAddress(), "--project", req.GetProject(), "--stack", req.GetStack(),
		"--pwd", dir)
	if info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root-directory", info.GetRootDirectory())
	}
	if h.engineAddress != "" {
		args = append(args, "--engine", h.engineAddress)
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetParallel() > 0 {
		args = append(args, "--parallel", strconv.Itoa(int(req.GetParallel())))
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	env := os.Environ()
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	env = append(env, "PULUMI_CONFIG="+string(config))
	if keys := req.GetConfigSecretKeys(); len(keys) > 0 {
		b, err := json.Marshal(keys)
		if err != nil {
			return nil, err
		}
		env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(b))
	}
	// Runtime options from Pulumi.yaml (runtime.options.typescript etc.), as upstream maps them.
	if info != nil && info.GetOptions() != nil {
		opts := info.GetOptions().AsMap()
		if v, ok := opts["typescript"].(bool); ok {
			env = append(env, "PULUMI_NODEJS_TYPESCRIPT="+strconv.FormatBool(v))
		}
		if v, ok := opts["tsconfig"].(string); ok && v != "" {
			env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+v)
		}
		if v, ok := opts["nodeargs"].(string); ok && v != "" {
			args = append(strings.Fields(v), args...)
		}
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if st, ok := exit.Sys().(syscall.WaitStatus); ok && st.ExitStatus() == exitCodeUserActionable {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}
