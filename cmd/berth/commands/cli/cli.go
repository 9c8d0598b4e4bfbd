// Package cli holds what every berth client command shares: the standard
// streams, the global options and the lazily created Engine API client.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/moby/moby/client"
	"github.com/spf13/pflag"
	"golang.org/x/term"
)

// Options are the global client options, bound to the root command's
// persistent flags.
type Options struct {
	// Host is the daemon address from -H/--host; empty selects the
	// environment or DefaultHost.
	Host string
	// Version is the client version; empty selects the module version
	// recorded in the binary.
	Version string
	// ConfigDir is the client configuration directory from --config; empty
	// selects $DOCKER_CONFIG or ~/.docker, as Docker's CLI does.
	ConfigDir string
}

// AddFlags binds the global client flags to o.
func (o *Options) AddFlags(flags *pflag.FlagSet) {
	flags.StringVarP(&o.Host, "host", "H", "",
		"Daemon socket to connect to (default $BERTH_HOST, $DOCKER_HOST or "+DefaultHost+")")
	flags.StringVar(&o.ConfigDir, "config", "",
		"Location of client config files, shared with Docker's CLI (default $DOCKER_CONFIG or ~/.docker)")
}

// CLI is the shared state of one client invocation.
type CLI struct {
	opts   *Options
	in     io.Reader
	out    io.Writer
	errOut io.Writer

	client *client.Client

	// autostart allows starting a local daemon when DefaultHost is
	// selected and no daemon responds on it.
	autostart bool
}

// New returns a CLI that reads options from opts when the first command
// needs a client. in, out and errOut are the standard streams.
func New(opts *Options, in io.Reader, out, errOut io.Writer) *CLI {
	return &CLI{opts: opts, in: in, out: out, errOut: errOut, autostart: true}
}

// NewStandard returns a CLI on the process's standard streams.
func NewStandard(opts *Options) *CLI {
	return New(opts, os.Stdin, os.Stdout, os.Stderr)
}

// In returns the standard input stream.
func (c *CLI) In() io.Reader { return c.in }

// Out returns the standard output stream.
func (c *CLI) Out() io.Writer { return c.out }

// Err returns the standard error stream.
func (c *CLI) Err() io.Writer { return c.errOut }

// DisableAutostart keeps Client from starting a daemon.
func (c *CLI) DisableAutostart() { c.autostart = false }

// Version returns the client version.
func (c *CLI) Version() string {
	if c.opts.Version != "" {
		return c.opts.Version
	}
	return moduleVersion()
}

// Host returns the daemon address this invocation uses.
func (c *CLI) Host() string {
	return resolveHost(c.opts.Host, os.LookupEnv)
}

// Client returns the API client, creating it on the first call. The first
// call pings the daemon, negotiates the API version and, for the default
// socket, starts the daemon when it is not running and the user is root.
func (c *CLI) Client(ctx context.Context) (*client.Client, error) {
	if c.client != nil {
		return c.client, nil
	}

	host := c.Host()
	apiClient, err := client.New(
		client.WithHost(host),
		client.WithAPIVersionNegotiation(),
		client.WithUserAgent("berth-cli/"+c.Version()),
	)
	if err != nil {
		return nil, fmt.Errorf("invalid daemon host %q: %w", host, err)
	}

	if err := c.connect(ctx, apiClient, host); err != nil {
		_ = apiClient.Close()
		return nil, err
	}

	c.client = apiClient
	return apiClient, nil
}

// Close releases the API client's idle connections.
func (c *CLI) Close() error {
	if c.client == nil {
		return nil
	}
	return c.client.Close()
}

func (c *CLI) connect(ctx context.Context, apiClient *client.Client, host string) error {
	_, err := apiClient.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err == nil {
		return nil
	}
	if !client.IsErrConnectionFailed(err) {
		return err
	}

	if c.autostart && host == DefaultHost && os.Geteuid() == 0 {
		return startDaemon(ctx, apiClient, daemonLogPath)
	}
	return connectionError(host, err)
}

// TerminalFd returns the file descriptor behind stream and whether it is a
// terminal.
func TerminalFd(stream any) (int, bool) {
	file, ok := stream.(interface{ Fd() uintptr })
	if !ok {
		return -1, false
	}
	fd := int(file.Fd())
	return fd, term.IsTerminal(fd)
}
