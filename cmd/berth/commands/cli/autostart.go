package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

const (
	// daemonLogPath receives the output of a daemon started by the client.
	daemonLogPath = "/var/lib/berth/daemon.log"

	// startTimeout bounds how long the client waits for a daemon it started
	// to respond to /_ping.
	startTimeout = 10 * time.Second

	pingInterval = 100 * time.Millisecond
)

// startDaemon runs "berth daemon" from the current executable in its own
// session, with stdout and stderr appended to logPath, and polls /_ping
// until the daemon responds.
//
// NOTE: two clients may both start a daemon at the same moment. The daemon
// that loses the race for the socket exits, and both clients then reach the
// one that won.
func startDaemon(ctx context.Context, apiClient *client.Client, logPath string) error {
	executable, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start berth daemon: find executable: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o711); err != nil {
		return fmt.Errorf("start berth daemon: %w", err)
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start berth daemon: %w", err)
	}
	defer logFile.Close()

	daemon := exec.Command(executable, "daemon")
	daemon.Stdout = logFile
	daemon.Stderr = logFile
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := daemon.Start(); err != nil {
		return fmt.Errorf("start berth daemon: %w", err)
	}

	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()

	return waitForDaemon(ctx, apiClient, exited, logPath)
}

// waitForDaemon polls /_ping until it succeeds, the daemon process exits,
// or startTimeout passes.
func waitForDaemon(ctx context.Context, apiClient *client.Client, exited <-chan error, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	ticker := time.NewTicker(pingInterval)
	defer ticker.Stop()

	for {
		select {
		case err := <-exited:
			return fmt.Errorf("berth daemon exited during startup (%v); see %s", err, logPath)
		case <-ctx.Done():
			return fmt.Errorf("berth daemon did not respond on %s within %s; see %s", DefaultHost, startTimeout, logPath)
		case <-ticker.C:
		}

		_, err := apiClient.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		if err == nil {
			return nil
		}
	}
}
