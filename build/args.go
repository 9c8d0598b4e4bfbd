package build

import (
	"maps"
	"slices"
	"sort"
	"strings"
)

// proxyArgs are the build arguments usable without an ARG instruction.
// Like Docker, they are left out of RUN's history and cache key unless the
// Dockerfile declares them, because they should not change the result.
var proxyArgs = []string{
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
	"NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
}

func isProxyArg(key string) bool {
	return slices.Contains(proxyArgs, key)
}

// buildArgs tracks ARG declarations and --build-arg values with Docker's
// scoping: ARGs before the first FROM are visible to FROM lines, and a stage
// sees only the ARGs it declares (a declaration without a default takes the
// value of the global ARG of the same name).
type buildArgs struct {
	// options are the --build-arg values; a nil value means unset.
	options map[string]*string
	// global holds the ARGs declared before the first FROM.
	global map[string]*string
	// declared holds the ARGs declared in the current stage.
	declared map[string]*string
	// used records every ARG name declared anywhere in the Dockerfile.
	used map[string]bool
}

func newBuildArgs(options map[string]*string) *buildArgs {
	return &buildArgs{
		options:  options,
		global:   map[string]*string{},
		declared: map[string]*string{},
		used:     map[string]bool{},
	}
}

// forStage returns the arguments seen by a new stage: the same options and
// globals, with no stage declarations yet.
func (a *buildArgs) forStage() *buildArgs {
	return &buildArgs{options: a.options, global: a.global, declared: map[string]*string{}, used: a.used}
}

// declare records ARG key[=value] in the current scope.
func (a *buildArgs) declare(key string, value *string, global bool) {
	a.used[key] = true
	a.declared[key] = value
	if global {
		a.global[key] = value
	}
}

// value returns the value of key given its declared default: the
// --build-arg value wins, then the default, then the global ARG.
func (a *buildArgs) value(key string, def *string) (string, bool) {
	if v, ok := a.options[key]; ok && v != nil {
		return *v, true
	}
	if def != nil {
		return *def, true
	}
	if v := a.global[key]; v != nil {
		return *v, true
	}
	return "", false
}

func (a *buildArgs) values(scope map[string]*string) map[string]string {
	out := map[string]string{}
	for _, key := range append(slices.Collect(maps.Keys(scope)), proxyArgs...) {
		if v, ok := a.value(key, scope[key]); ok {
			out[key] = v
		}
	}
	return out
}

// globalEnv returns KEY=value pairs for expanding FROM lines.
func (a *buildArgs) globalEnv() []string {
	return toEnv(a.values(a.global))
}

// stageValues returns the values of the arguments visible in the stage.
func (a *buildArgs) stageValues() map[string]string {
	return a.values(a.declared)
}

// envWithArgs returns env plus the stage's arguments whose names env does
// not set, for variable expansion and the environment of RUN.
func (a *buildArgs) envWithArgs(env []string) []string {
	return append(slices.Clone(env), a.argsNotIn(env)...)
}

// argsNotIn returns the stage's arguments whose names env does not set,
// sorted.
func (a *buildArgs) argsNotIn(env []string) []string {
	set := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	var out []string
	for k, v := range a.stageValues() {
		if !set[k] {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// historyArgs filters argsNotIn's output for RUN's history and cache key:
// proxy arguments appear only when the stage declares them.
func (a *buildArgs) historyArgs(args []string) []string {
	var out []string
	for _, kv := range args {
		k, _, _ := strings.Cut(kv, "=")
		if _, declared := a.declared[k]; declared || !isProxyArg(k) {
			out = append(out, kv)
		}
	}
	return out
}

// unused returns the --build-arg names that no ARG declared, sorted.
func (a *buildArgs) unused() []string {
	var out []string
	for k := range a.options {
		if !a.used[k] && !isProxyArg(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func toEnv(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
