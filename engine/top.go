package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"

	ctr "github.com/berth-engine/berth/container"
)

// defaultPsArgs are the ps options of top when the request names none, as
// in Docker.
const defaultPsArgs = "-ef"

// psPidAlias matches a "-o name=PID..." column spec. ps prints such a column
// with that title, which would then be mistaken for the PID column.
var psPidAlias = regexp.MustCompile(`\s+([^\s]*)=\s*(PID[^\s]*)`)

// ContainerTop runs ps on the host with psArgs (default "-ef") and returns
// the rows of the container's processes.
func (e *Engine) ContainerTop(ctx context.Context, ref, psArgs string) (container.TopResponse, error) {
	if psArgs == "" {
		psArgs = defaultPsArgs
	}
	if err := checkPsArgs(psArgs); err != nil {
		return container.TopResponse{}, err
	}
	c, err := e.get(ref)
	if err != nil {
		return container.TopResponse{}, err
	}
	c.Lock()
	status := c.State.Status
	c.Unlock()
	switch status {
	case ctr.Running, ctr.Paused:
	case ctr.Restarting:
		return container.TopResponse{}, fmt.Errorf("Container %s is restarting, wait until the container is running: %w",
			c.ID, errdefs.ErrConflict)
	default:
		return container.TopResponse{}, fmt.Errorf("container %s is not running: %w", c.ID, errdefs.ErrConflict)
	}

	pids, err := e.runc().Ps(ctx, c.ID)
	if err != nil {
		return container.TopResponse{}, fmt.Errorf("list processes of container %s: %w", c.ID, err)
	}

	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			// ps fails on invalid options, which come from the request. The
			// first line of its error output names the wrong option.
			reason, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
			return container.TopResponse{}, fmt.Errorf("Error running ps: %s: %s: %w",
				err, reason, errdefs.ErrInvalidArgument)
		}
		return container.TopResponse{}, fmt.Errorf("Error running ps: %w", err)
	}
	return parsePsOutput(out, pids)
}

// checkPsArgs rejects a column renamed to a title starting with PID, unless
// the column is the pid itself.
func checkPsArgs(psArgs string) error {
	for _, m := range psPidAlias.FindAllStringSubmatch(psArgs, -1) {
		if m[1] != "pid" {
			return fmt.Errorf("specifying \"%s=%s\" is not allowed: %w", m[1], m[2], errdefs.ErrInvalidArgument)
		}
	}
	return nil
}

// parsePsOutput keeps the rows of ps output whose PID is in pids. The last
// column (the command) may contain spaces and takes the rest of each row. A
// row whose PID is "-" is a thread line of ps -m or H, and belongs to the
// process row above it.
func parsePsOutput(out []byte, pids []int) (container.TopResponse, error) {
	lines := strings.Split(string(out), "\n")
	titles := strings.Fields(lines[0])
	pidColumn := -1
	for i, title := range titles {
		if title == "PID" {
			pidColumn = i
			break
		}
	}
	if pidColumn < 0 {
		return container.TopResponse{}, fmt.Errorf("Couldn't find PID field in ps output: %w", errdefs.ErrInvalidArgument)
	}

	containerPids := make(map[int]bool, len(pids))
	for _, pid := range pids {
		containerPids[pid] = true
	}
	resp := container.TopResponse{Titles: titles, Processes: [][]string{}}
	inContainer := false
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) <= pidColumn {
			return container.TopResponse{}, fmt.Errorf("ps output line %q has no PID column", line)
		}
		if fields[pidColumn] == "-" {
			if inContainer {
				resp.Processes = append(resp.Processes, joinLastColumn(fields, len(titles)))
			}
			continue
		}
		pid, err := strconv.Atoi(fields[pidColumn])
		if err != nil {
			return container.TopResponse{}, fmt.Errorf("Unexpected pid '%s': %w", fields[pidColumn], err)
		}
		inContainer = containerPids[pid]
		if inContainer {
			resp.Processes = append(resp.Processes, joinLastColumn(fields, len(titles)))
		}
	}
	return resp, nil
}

// joinLastColumn returns fields as n columns, the last one made of every
// field from the n-th on, joined by spaces. Missing columns are empty.
func joinLastColumn(fields []string, n int) []string {
	for len(fields) < n {
		fields = append(fields, "")
	}
	row := append([]string{}, fields[:n-1]...)
	return append(row, strings.Join(fields[n-1:], " "))
}
