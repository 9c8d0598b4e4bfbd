// Package daemon runs berth's engine behind the Engine API on a unix socket.
// It locks the exec root against a second daemon, opens the engine and
// serves the API until a signal stops it. Containers keep running under
// their shims after it stops.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/api/server"
	"github.com/berth-engine/berth/engine"
	"github.com/berth-engine/berth/internal/log"
)

// Defaults for a daemon started without flags.
const (
	DefaultDataRoot = "/var/lib/berth"
	DefaultExecRoot = "/run/berth"
	DefaultBridge   = "berth0"
)

// DefaultHost is the API socket of a daemon with the default exec root.
var DefaultHost = "unix://" + filepath.Join(DefaultExecRoot, "berth.sock")

// Config is the daemon's configuration, set from `berth daemon` flags.
type Config struct {
	Hosts      []string // listen addresses, unix:///path
	DataRoot   string
	ExecRoot   string
	Bridge     string
	BridgeIP   string // gateway/prefix of the default bridge
	Runtime    string // OCI runtime binary
	Version    string
	LogLevel   slog.Level
	ShimBinary string

	// StopContainersOnShutdown stops running containers when the daemon
	// shuts down instead of leaving them running under their shims.
	StopContainersOnShutdown bool

	// InsecureRegistries may be reached over plain HTTP: hosts and CIDR
	// ranges.
	InsecureRegistries []string

	// RegistryCertsDir holds per-registry TLS certificates, in
	// <dir>/<host:port>/. Empty means /etc/docker/certs.d.
	RegistryCertsDir string
}

// Run serves the API until ctx is cancelled.
func Run(ctx context.Context, cfg Config) error {
	if os.Geteuid() != 0 {
		return errors.New("berth daemon needs root: run it with sudo or as root")
	}
	if err := os.MkdirAll(cfg.ExecRoot, 0o711); err != nil {
		return err
	}
	lock, err := lockRoot(cfg.ExecRoot)
	if err != nil {
		return err
	}
	defer func() {
		os.Remove(lock.Name())
		lock.Close()
	}()

	ctx = log.With(ctx)
	log.FromContext(ctx).Info("starting daemon", "data_root", cfg.DataRoot, "exec_root", cfg.ExecRoot,
		"bridge", cfg.Bridge, "version", cfg.Version)

	eng, err := engine.New(ctx, engine.Config{
		DataRoot:   cfg.DataRoot,
		ExecRoot:   cfg.ExecRoot,
		RuncBinary: cfg.Runtime,
		ShimBinary: cfg.ShimBinary,
		Bridge:     cfg.Bridge,
		BridgeCIDR: cfg.BridgeIP,
		Version:    cfg.Version,

		StopContainersOnShutdown: cfg.StopContainersOnShutdown,

		InsecureRegistries: cfg.InsecureRegistries,
		RegistryCertsDir:   cfg.RegistryCertsDir,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := eng.Close(context.WithoutCancel(ctx)); err != nil {
			log.FromContext(ctx).Warn("close engine", log.Err(err))
		}
	}()

	hosts := cfg.Hosts
	if len(hosts) == 0 {
		hosts = []string{"unix://" + filepath.Join(cfg.ExecRoot, "berth.sock")}
	}
	srv := server.New(eng, server.WithServerVersion(cfg.Version))
	errs := make(chan error, len(hosts))
	for _, h := range hosts {
		l, err := listen(h)
		if err != nil {
			return err
		}
		log.FromContext(ctx).Info("API listening", "host", h)
		go func() { errs <- srv.Serve(ctx, l) }()
	}

	var firstErr error
	for range hosts {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	log.FromContext(ctx).Info("daemon stopped")
	return firstErr
}

// listen opens a unix socket listener for a unix:// host, replacing a stale
// socket file but refusing one that a live daemon still serves.
func listen(host string) (net.Listener, error) {
	path, err := SocketPath(host)
	if err != nil {
		return nil, err
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("another daemon is already listening on %s; stop it or choose another socket with -H", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// SocketPath returns the file of a unix:// host address.
func SocketPath(host string) (string, error) {
	if strings.HasPrefix(host, "/") {
		return host, nil
	}
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return "", fmt.Errorf("invalid host %q: only unix:///path/to/socket is supported", host)
	}
	return u.Path, nil
}

// lockRoot takes an exclusive lock on the exec root so that two daemons
// never manage the same containers.
func lockRoot(execRoot string) (*os.File, error) {
	path := filepath.Join(execRoot, "berth.pid")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another berth daemon is using %s (lock on %s): stop it or pass another --exec-root", execRoot, path)
	}
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "%d\n", os.Getpid())
	}
	return f, nil
}
