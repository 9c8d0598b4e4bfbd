package build

import (
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// defaultPath is the PATH a build stage gets when its base image sets none,
// the same value Docker uses for Linux.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultShell prefixes the shell form of RUN, CMD and ENTRYPOINT when the
// image has no SHELL.
var defaultShell = []string{"/bin/sh", "-c"}

// changeCommands are the Dockerfile instructions accepted by ApplyChanges.
var changeCommands = []string{
	"cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild",
	"stopsignal", "user", "volume", "workdir",
}

// ApplyChanges applies Dockerfile instructions to an image configuration,
// as `docker import --change` and `docker commit --change` do. Allowed are
// CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL,
// USER, VOLUME and WORKDIR; variables expand with the configuration's ENV.
// Any other instruction, or an invalid one, fails with an error wrapping
// errdefs.ErrInvalidArgument and cfg is left unchanged.
func ApplyChanges(cfg *dockerspec.DockerOCIImage, changes []string) error {
	if len(changes) == 0 {
		return nil
	}
	res, err := parser.Parse(strings.NewReader(strings.Join(changes, "\n")))
	if err != nil {
		return fmt.Errorf("parse changes: %w", invalid(err))
	}

	next := cloneImageConfig(*cfg)
	lex := shell.NewLex(res.EscapeToken)
	var state configState
	for _, node := range res.AST.Children {
		if !slices.Contains(changeCommands, strings.ToLower(node.Value)) {
			return errdefs.ErrInvalidArgument.WithMessage(node.Value + " is not a valid change command")
		}
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return fmt.Errorf("parse change %q: %w", node.Original, invalid(err))
		}
		if err := expandCommand(cmd, lex, next.Config.Env); err != nil {
			return err
		}
		if _, err := applyConfigCommand(&next, cmd, &state); err != nil {
			return fmt.Errorf("apply change %q: %w", node.Original, err)
		}
	}
	*cfg = next
	return nil
}

// expandCommand substitutes variables in the instructions Docker expands:
// ENV, LABEL, ADD, COPY (including --from), WORKDIR, USER, VOLUME,
// STOPSIGNAL, ARG and EXPOSE.
// CMD, ENTRYPOINT, RUN, SHELL, HEALTHCHECK and ONBUILD keep their text.
func expandCommand(cmd instructions.Command, lex *shell.Lex, env []string) error {
	envs := shell.EnvsFromSlice(env)
	expand := func(word string) (string, error) {
		out, _, err := lex.ProcessWord(word, envs)
		return out, err
	}

	if expose, ok := cmd.(*instructions.ExposeCommand); ok {
		var ports []string
		for _, p := range expose.Ports {
			words, err := lex.ProcessWords(p, envs)
			if err != nil {
				return fmt.Errorf("expand %s: %w", cmd.Name(), invalid(err))
			}
			ports = append(ports, words...)
		}
		expose.Ports = ports
		return nil
	}
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(expand); err != nil {
			return fmt.Errorf("expand %s: %w", cmd.Name(), invalid(err))
		}
	}
	// BuildKit expands COPY --from as well, so that a build argument can
	// pick the stage or image.
	if c, ok := cmd.(*instructions.CopyCommand); ok && c.From != "" {
		from, err := expand(c.From)
		if err != nil {
			return fmt.Errorf("expand %s: %w", cmd.Name(), invalid(err))
		}
		c.From = from
	}
	// Here-documents of COPY and ADD with an unquoted delimiter expand
	// like BuildKit's: variables only, keeping quotes and backslashes.
	if ex, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		raw := shell.NewLex('\\')
		raw.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(word string) (string, error) {
			out, _, err := raw.ProcessWord(word, envs)
			return out, err
		})
		if err != nil {
			return fmt.Errorf("expand %s: %w", cmd.Name(), invalid(err))
		}
	}
	return nil
}

// configState is what instructions change besides the image configuration.
type configState struct {
	// cmdSet records a CMD earlier in the stage, which ENTRYPOINT keeps.
	cmdSet bool
	// maintainer is the image author set by MAINTAINER.
	maintainer string
	// notes receives Docker's informational lines; nil discards them.
	notes io.Writer
}

// applyConfigCommand applies an instruction that only changes the image
// configuration and returns the history comment Docker records for it.
// Other instructions fail with errdefs.ErrNotImplemented.
func applyConfigCommand(img *dockerspec.DockerOCIImage, cmd instructions.Command, state *configState) (string, error) {
	cfg := &img.Config
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		return setEnv(cfg, c.Env), nil
	case *instructions.LabelCommand:
		return setLabels(cfg, c.Labels), nil
	case *instructions.MaintainerCommand:
		state.maintainer = c.Maintainer
		return "MAINTAINER " + c.Maintainer, nil
	case *instructions.CmdCommand:
		cfg.Cmd = commandLine(c.ShellDependantCmdLine, cfg.Shell)
		if len(c.CmdLine) != 0 {
			state.cmdSet = true
		}
		return fmt.Sprintf("CMD %q", cfg.Cmd), nil
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = commandLine(c.ShellDependantCmdLine, cfg.Shell)
		if !state.cmdSet {
			cfg.Cmd = nil
		}
		return fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint), nil
	case *instructions.ExposeCommand:
		return exposePorts(cfg, c.Ports)
	case *instructions.UserCommand:
		cfg.User = c.User
		return "USER " + c.User, nil
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			cfg.Volumes[v] = struct{}{}
		}
		return fmt.Sprintf("VOLUME %v", c.Volumes), nil
	case *instructions.StopSignalCommand:
		if err := validateSignal(c.Signal); err != nil {
			return "", err
		}
		cfg.StopSignal = c.Signal
		return "STOPSIGNAL " + c.Signal, nil
	case *instructions.ShellCommand:
		cfg.Shell = slices.Clone(c.Shell)
		return fmt.Sprintf("SHELL %v", cfg.Shell), nil
	case *instructions.HealthCheckCommand:
		if old := cfg.Healthcheck; old != nil && len(old.Test) > 0 && old.Test[0] != "NONE" && state.notes != nil {
			fmt.Fprintf(state.notes, "Note: overriding previous HEALTHCHECK: %v\n", old.Test)
		}
		cfg.Healthcheck = c.Health
		return "HEALTHCHECK " + healthcheckHistory(cfg.Healthcheck), nil
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		return "ONBUILD " + c.Expression, nil
	case *instructions.WorkdirCommand:
		wd, err := normalizeWorkdir(cfg.WorkingDir, c.Path)
		if err != nil {
			return "", err
		}
		cfg.WorkingDir = wd
		return "WORKDIR " + wd, nil
	}
	return "", fmt.Errorf("instruction %s does not only change the configuration: %w", cmd.Name(), errdefs.ErrNotImplemented)
}

// commandLine returns the argv of a RUN, CMD or ENTRYPOINT: the exec form as
// written, or the shell form prefixed with the image's SHELL.
func commandLine(cmd instructions.ShellDependantCmdLine, imageShell []string) []string {
	if !cmd.PrependShell || cmd.CmdLine == nil {
		return slices.Clone(cmd.CmdLine)
	}
	return append(shellOf(imageShell), cmd.CmdLine...)
}

func shellOf(imageShell []string) []string {
	if len(imageShell) == 0 {
		return slices.Clone(defaultShell)
	}
	return slices.Clone(imageShell)
}

// setEnv sets each variable, replacing an existing one of the same name.
func setEnv(cfg *dockerspec.DockerOCIImageConfig, kvs instructions.KeyValuePairs) string {
	comment := "ENV"
	for _, kv := range kvs {
		entry := kv.Key + "=" + kv.Value
		comment += " " + entry
		replaced := false
		for i, old := range cfg.Env {
			name, _, _ := strings.Cut(old, "=")
			if shell.EqualEnvKeys(name, kv.Key) {
				cfg.Env[i] = entry
				replaced = true
				break
			}
		}
		if !replaced {
			cfg.Env = append(cfg.Env, entry)
		}
	}
	return comment
}

func setLabels(cfg *dockerspec.DockerOCIImageConfig, kvs instructions.KeyValuePairs) string {
	if cfg.Labels == nil {
		cfg.Labels = map[string]string{}
	}
	comment := "LABEL"
	for _, kv := range kvs {
		cfg.Labels[kv.Key] = kv.Value
		comment += " " + kv.Key + "=" + kv.Value
	}
	return comment
}

// exposePorts adds EXPOSE specifications: PORT[-END][/PROTO], optionally
// prefixed with [IP:]HOSTPORT: as in `docker run -p`, where only the
// container part counts.
func exposePorts(cfg *dockerspec.DockerOCIImageConfig, specs []string) (string, error) {
	var ports []string
	for _, spec := range specs {
		p, err := parseExposedPort(spec)
		if err != nil {
			return "", err
		}
		ports = append(ports, p...)
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		cfg.ExposedPorts[p] = struct{}{}
	}
	return "EXPOSE " + strings.Join(specs, " "), nil
}

func parseExposedPort(spec string) ([]string, error) {
	containerPart := spec
	if i := strings.LastIndex(spec, ":"); i >= 0 {
		containerPart = spec[i+1:]
	}
	portRange, proto, _ := strings.Cut(containerPart, "/")
	if portRange == "" {
		return nil, fmt.Errorf("invalid port specification %q: no port specified: %w", spec, errdefs.ErrInvalidArgument)
	}
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid port specification %q: invalid proto: %s: %w", spec, proto, errdefs.ErrInvalidArgument)
	}

	startText, endText, isRange := strings.Cut(portRange, "-")
	start, err := strconv.ParseUint(startText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port specification %q: invalid containerPort: %s: %w", spec, portRange, errdefs.ErrInvalidArgument)
	}
	end := start
	if isRange {
		end, err = strconv.ParseUint(endText, 10, 16)
		if err != nil || end < start {
			return nil, fmt.Errorf("invalid port specification %q: invalid containerPort: %s: %w", spec, portRange, errdefs.ErrInvalidArgument)
		}
	}
	var ports []string
	for p := start; p <= end; p++ {
		ports = append(ports, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return ports, nil
}

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// validateSignal accepts a signal number or a name with or without the SIG
// prefix, such as "SIGTERM", "kill" or "RTMIN+3".
func validateSignal(sig string) error {
	if n, err := strconv.Atoi(sig); err == nil {
		if n <= 0 || n > maxSignal {
			return fmt.Errorf("invalid signal: %s: %w", sig, errdefs.ErrInvalidArgument)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
	if unix.SignalNum("SIG"+name) != 0 {
		return nil
	}
	for _, base := range []string{"RTMIN", "RTMAX"} {
		rest, ok := strings.CutPrefix(name, base)
		if !ok {
			continue
		}
		if rest == "" {
			return nil
		}
		if n, err := strconv.Atoi(rest); err == nil && n >= -15 && n <= 15 {
			return nil
		}
	}
	return fmt.Errorf("invalid signal: %s: %w", sig, errdefs.ErrInvalidArgument)
}

// normalizeWorkdir returns the absolute, clean working directory for
// WORKDIR requested in a stage whose working directory is current.
func normalizeWorkdir(current, requested string) (string, error) {
	if requested == "" {
		return "", fmt.Errorf("WORKDIR path must not be empty: %w", errdefs.ErrInvalidArgument)
	}
	if path.IsAbs(requested) {
		return path.Clean(requested), nil
	}
	return path.Join("/", current, requested), nil
}

// cloneImageConfig copies img so that changing the copy's configuration
// leaves img unchanged.
func cloneImageConfig(img dockerspec.DockerOCIImage) dockerspec.DockerOCIImage {
	cfg := &img.Config
	cfg.Env = slices.Clone(cfg.Env)
	cfg.Cmd = slices.Clone(cfg.Cmd)
	cfg.Entrypoint = slices.Clone(cfg.Entrypoint)
	cfg.Shell = slices.Clone(cfg.Shell)
	cfg.OnBuild = slices.Clone(cfg.OnBuild)
	cfg.ExposedPorts = maps.Clone(cfg.ExposedPorts)
	cfg.Volumes = maps.Clone(cfg.Volumes)
	cfg.Labels = maps.Clone(cfg.Labels)
	if cfg.Healthcheck != nil {
		hc := *cfg.Healthcheck
		hc.Test = slices.Clone(hc.Test)
		cfg.Healthcheck = &hc
	}
	img.RootFS.DiffIDs = slices.Clone(img.RootFS.DiffIDs)
	img.History = slices.Clone(img.History)
	return img
}

// healthcheckHistory formats a healthcheck as Docker 25 and later write it
// in the history: the struct printed with %q, which quotes the test words
// and the durations and prints Retries as a rune literal ('\x04').
func healthcheckHistory(h *dockerspec.HealthcheckConfig) string {
	if h == nil {
		return "<nil>"
	}
	return fmt.Sprintf("&{%q %q %q %q %q %q}", h.Test, h.Interval, h.Timeout, h.StartPeriod, h.StartInterval, rune(h.Retries))
}
