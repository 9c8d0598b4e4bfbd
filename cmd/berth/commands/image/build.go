package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

type buildOptions struct {
	tags        []string
	dockerfile  string
	buildArgs   []string
	labels      []string
	noCache     bool
	pull        bool
	target      string
	quiet       bool
	imageIDFile string
	network     string
	addHosts    []string
}

// NewBuildCommand returns "build": send a build context to the daemon's
// Dockerfile builder.
func NewBuildCommand(c *cli.CLI) *cobra.Command {
	var opts buildOptions

	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | -",
		Short: "Build an image from a Dockerfile",
		Args:  cli.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), c, &opts, args[0])
		},
	}

	flags := cmd.Flags()
	flags.StringArrayVarP(&opts.tags, "tag", "t", nil, "Name and optionally a tag in the \"name:tag\" format")
	flags.StringVarP(&opts.dockerfile, "file", "f", "", "Name of the Dockerfile (default: \"PATH/Dockerfile\"), or - to read it from stdin")
	flags.StringArrayVar(&opts.buildArgs, "build-arg", nil, "Set build-time variables (KEY=VALUE, or KEY to copy it from the client)")
	flags.StringArrayVar(&opts.labels, "label", nil, "Set metadata for an image (KEY=VALUE)")
	flags.BoolVar(&opts.noCache, "no-cache", false, "Do not use cache when building the image")
	flags.BoolVar(&opts.pull, "pull", false, "Always attempt to pull a newer version of the image")
	flags.StringVar(&opts.target, "target", "", "Set the target build stage to build")
	flags.BoolVarP(&opts.quiet, "quiet", "q", false, "Suppress the build output and print image ID on success")
	flags.StringVar(&opts.imageIDFile, "iidfile", "", "Write the image ID to the file")
	flags.StringVar(&opts.network, "network", "", "Set the networking mode for the RUN instructions during build")
	flags.StringArrayVar(&opts.addHosts, "add-host", nil, "Add a custom host-to-IP mapping (host:ip)")
	return cmd
}

func runBuild(ctx context.Context, c *cli.CLI, opts *buildOptions, contextPath string) error {
	if opts.imageIDFile != "" {
		// A stale file must not pass for the result of this build.
		if err := os.Remove(opts.imageIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove image ID file: %w", err)
		}
	}

	var buildCtx buildContext
	var err error
	switch {
	case contextPath == "-" && opts.dockerfile == "-":
		return errors.New("invalid argument: can't use stdin for both build context and dockerfile")
	case contextPath == "-":
		buildCtx, err = contextFromReader(c.In(), opts.dockerfile)
	default:
		buildCtx, err = contextFromDir(contextPath, opts.dockerfile, c.In())
	}
	if err != nil {
		return err
	}
	defer buildCtx.body.Close()

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	request := buildRequest(opts, buildCtx.dockerfile)
	if request.AuthConfigs, err = c.AllRegistryAuths(); err != nil {
		return err
	}
	result, err := apiClient.ImageBuild(ctx, buildCtx.body, request)
	if err != nil {
		return err
	}
	defer result.Body.Close()

	return displayBuild(c, opts, result.Body)
}

// buildRequest converts the flags into the build query.
func buildRequest(opts *buildOptions, dockerfile string) client.ImageBuildOptions {
	return client.ImageBuildOptions{
		Tags:           opts.tags,
		SuppressOutput: opts.quiet,
		NoCache:        opts.noCache,
		Remove:         true,
		PullParent:     opts.pull,
		Dockerfile:     dockerfile,
		BuildArgs:      parseBuildArgs(opts.buildArgs),
		Labels:         parseLabels(opts.labels),
		Target:         opts.target,
		NetworkMode:    opts.network,
		ExtraHosts:     opts.addHosts,
		Version:        buildtypes.BuilderV1,
	}
}

// displayBuild prints the build output and writes --iidfile. A build error
// ends the command with the builder's message and exit code 1.
func displayBuild(c *cli.CLI, opts *buildOptions, body io.Reader) error {
	out := c.Out()
	fd, isTerminal := cli.TerminalFd(out)
	var quietOutput bytes.Buffer
	if opts.quiet {
		out = &quietOutput
		isTerminal = false
	}

	var imageID string
	onAux := func(aux json.RawMessage) {
		var result buildtypes.Result
		if json.Unmarshal(aux, &result) == nil && result.ID != "" {
			imageID = result.ID
		}
	}

	if err := format.DisplayJSONStreamTo(body, out, fd, isTerminal, onAux); err != nil {
		if opts.quiet {
			_, _ = c.Err().Write(quietOutput.Bytes())
		}
		return cli.StatusError{Status: err.Error(), StatusCode: 1, Cause: err}
	}

	if opts.quiet {
		if imageID != "" {
			fmt.Fprintln(c.Out(), imageID)
		} else {
			_, _ = c.Out().Write(quietOutput.Bytes())
		}
	}

	if opts.imageIDFile != "" {
		if imageID == "" {
			return fmt.Errorf("daemon did not report an image ID, cannot write %s", opts.imageIDFile)
		}
		if err := os.WriteFile(opts.imageIDFile, []byte(imageID), 0o666); err != nil {
			return fmt.Errorf("write image ID file: %w", err)
		}
	}
	return nil
}

// parseBuildArgs converts --build-arg values. A bare KEY takes its value
// from the client's environment, or is sent without a value (the
// Dockerfile's default) when KEY is not set there.
func parseBuildArgs(values []string) map[string]*string {
	if len(values) == 0 {
		return nil
	}
	args := make(map[string]*string, len(values))
	for _, value := range values {
		key, val, hasValue := strings.Cut(value, "=")
		if hasValue {
			args[key] = &val
			continue
		}
		if envValue, ok := os.LookupEnv(key); ok {
			args[key] = &envValue
			continue
		}
		args[key] = nil
	}
	return args
}

// parseLabels converts --label values; a bare KEY gets an empty value.
func parseLabels(values []string) map[string]string {
	if len(values) == 0 {
		return nil
	}
	labels := make(map[string]string, len(values))
	for _, value := range values {
		key, val, _ := strings.Cut(value, "=")
		labels[key] = val
	}
	return labels
}
