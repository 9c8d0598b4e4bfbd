package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/daemon"
	"github.com/berth-engine/berth/distribution"
)

type daemonOptions struct {
	hosts    []string
	dataRoot string
	execRoot string
	bridge   string
	bip      string
	runtime  string
	logLevel string
	debug    bool

	liveRestore bool

	insecureRegistries []string
	registryCertsDir   string
}

func newDaemonCommand() *cobra.Command {
	var opts daemonOptions
	cmd := &cobra.Command{
		Use:   "daemon [OPTIONS]",
		Short: "Run the berth engine and serve the Engine API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelInfo
			if opts.debug {
				opts.logLevel = "debug"
			}
			if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
				return fmt.Errorf("invalid --log-level %q: use debug, info, warn or error", opts.logLevel)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))

			return daemon.Run(cmd.Context(), daemon.Config{
				Hosts:    opts.hosts,
				DataRoot: opts.dataRoot,
				ExecRoot: opts.execRoot,
				Bridge:   opts.bridge,
				BridgeIP: opts.bip,
				Runtime:  opts.runtime,
				Version:  version,
				LogLevel: level,

				StopContainersOnShutdown: !opts.liveRestore,

				InsecureRegistries: opts.insecureRegistries,
				RegistryCertsDir:   opts.registryCertsDir,
			})
		},
	}
	flags := cmd.Flags()
	flags.StringSliceVarP(&opts.hosts, "host", "H", nil, "Daemon socket to listen on (unix:///path); default unix://EXEC-ROOT/berth.sock")
	flags.StringVar(&opts.dataRoot, "data-root", daemon.DefaultDataRoot, "Directory of persistent state: images, layers, containers")
	flags.StringVar(&opts.execRoot, "exec-root", daemon.DefaultExecRoot, "Directory of runtime state: sockets, bundles, namespaces")
	flags.StringVarP(&opts.bridge, "bridge", "b", daemon.DefaultBridge, "Name of the default bridge, created if missing")
	flags.StringVar(&opts.bip, "bip", "", "Gateway address and prefix of the default bridge, e.g. 10.88.0.1/16; default: a free /16")
	flags.StringVar(&opts.runtime, "runtime", "runc", "OCI runtime binary")
	flags.StringVarP(&opts.logLevel, "log-level", "l", "info", "Log level: debug, info, warn or error")
	flags.BoolVarP(&opts.debug, "debug", "D", false, "Log at debug level")
	flags.BoolVar(&opts.liveRestore, "live-restore", true,
		"Keep containers running while the daemon is down; with false, shutdown stops them with their stop signal "+
			"and timeout, as dockerd does by default")
	flags.StringArrayVar(&opts.insecureRegistries, "insecure-registry", nil,
		"Registry host[:port] or CIDR range to reach over plain HTTP or unverified TLS (repeatable); loopback always is")
	flags.StringVar(&opts.registryCertsDir, "registry-certs-dir", distribution.DefaultCertsDir,
		"Directory of per-registry TLS certificates: <dir>/<host:port>/*.crt are CA certificates, *.cert and *.key a client certificate")
	return cmd
}
