// Package system implements the berth client commands that concern the
// daemon as a whole (version, info) and the type-agnostic inspect.
package system

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/cmd/berth/commands/format"
)

// clientVersion is the "Client" section of version.
type clientVersion struct {
	Version    string
	APIVersion string `json:"ApiVersion"`
	GoVersion  string
	GitCommit  string
	Os         string
	Arch       string
}

// versionInfo is the data that version --format templates receive.
type versionInfo struct {
	Client clientVersion
	Server *client.ServerVersionResult
}

// NewVersionCommand returns "version": show client and daemon versions.
func NewVersionCommand(c *cli.CLI) *cobra.Command {
	var formatFlag string

	cmd := &cobra.Command{
		Use:   "version [OPTIONS]",
		Short: "Show the berth version information",
		Args:  cli.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.Context(), c, formatFlag)
		},
	}
	cmd.Flags().StringVarP(&formatFlag, "format", "f", "", "Format output using a custom template or 'json'")
	return cmd
}

func runVersion(ctx context.Context, c *cli.CLI, formatFlag string) error {
	info := versionInfo{Client: clientVersion{
		Version:    c.Version(),
		APIVersion: client.MaxAPIVersion,
		GoVersion:  runtime.Version(),
		GitCommit:  cli.GitCommit(),
		Os:         runtime.GOOS,
		Arch:       runtime.GOARCH,
	}}

	apiClient, serverErr := c.Client(ctx)
	if serverErr == nil {
		info.Client.APIVersion = apiClient.ClientVersion()
		var server client.ServerVersionResult
		server, serverErr = apiClient.ServerVersion(ctx, client.ServerVersionOptions{})
		if serverErr == nil {
			info.Server = &server
		}
	}

	if formatFlag != "" {
		if err := printVersionTemplate(c.Out(), formatFlag, info); err != nil {
			return err
		}
		return serverErr
	}

	// One tabwriter aligns the values of both sections.
	w := tabwriter.NewWriter(c.Out(), 20, 1, 1, ' ', 0)
	printClientVersion(w, info.Client)
	if info.Server != nil {
		fmt.Fprintln(w)
		printServerVersion(w, info.Server)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return serverErr
}

func printVersionTemplate(out io.Writer, text string, info versionInfo) error {
	if text == format.JSONKey {
		text = "{{json .}}"
	}
	tmpl, err := format.Parse(text)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(out, info); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	fmt.Fprintln(out)
	return nil
}

func printClientVersion(w io.Writer, v clientVersion) {
	fmt.Fprintln(w, "Client:")
	fmt.Fprintf(w, " Version:\t%s\n", v.Version)
	fmt.Fprintf(w, " API version:\t%s\n", v.APIVersion)
	fmt.Fprintf(w, " Go version:\t%s\n", v.GoVersion)
	if v.GitCommit != "" {
		fmt.Fprintf(w, " Git commit:\t%s\n", v.GitCommit)
	}
	fmt.Fprintf(w, " OS/Arch:\t%s/%s\n", v.Os, v.Arch)
}

// printServerVersion prints the daemon's components; the "Engine"
// component comes first with its API versions and build details.
func printServerVersion(w io.Writer, v *client.ServerVersionResult) {
	name := v.Platform.Name
	if name == "" {
		name = "berth"
	}
	fmt.Fprintf(w, "Server: %s\n", name)

	components := slices.Clone(v.Components)
	if len(components) == 0 {
		fmt.Fprintln(w, " Engine:")
		fmt.Fprintf(w, "  Version:\t%s\n", v.Version)
		fmt.Fprintf(w, "  API version:\t%s (minimum version %s)\n", v.APIVersion, v.MinAPIVersion)
		fmt.Fprintf(w, "  OS/Arch:\t%s/%s\n", v.Os, v.Arch)
		fmt.Fprintf(w, "  Experimental:\t%t\n", v.Experimental)
		return
	}

	for _, component := range components {
		fmt.Fprintf(w, " %s:\n", component.Name)
		fmt.Fprintf(w, "  Version:\t%s\n", component.Version)
		if component.Name != "Engine" {
			for _, key := range sortedKeys(component.Details) {
				fmt.Fprintf(w, "  %s:\t%s\n", key, component.Details[key])
			}
			continue
		}

		details := component.Details
		fmt.Fprintf(w, "  API version:\t%s (minimum version %s)\n", details["ApiVersion"], details["MinAPIVersion"])
		fmt.Fprintf(w, "  Go version:\t%s\n", details["GoVersion"])
		fmt.Fprintf(w, "  Git commit:\t%s\n", details["GitCommit"])
		fmt.Fprintf(w, "  Built:\t%s\n", details["BuildTime"])
		fmt.Fprintf(w, "  OS/Arch:\t%s/%s\n", details["Os"], details["Arch"])
		fmt.Fprintf(w, "  Experimental:\t%s\n", details["Experimental"])
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
