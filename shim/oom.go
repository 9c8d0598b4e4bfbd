package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berth-engine/berth/internal/log"
)

// oomKilled reports whether the kernel OOM killer killed a process in the
// container's memory cgroup. It reads the cgroup paths from runc's state file
// (<runc-root>/<id>/state.json, field cgroup_paths, as written by runc 1.1),
// so it must run before runc delete removes the cgroup. It reads the oom_kill
// counter from memory.oom_control on cgroup v1 (Linux 4.13 and later) and
// from memory.events on cgroup v2.
func (s *supervisor) oomKilled(ctx context.Context) bool {
	paths, err := s.cgroupPaths()
	if err != nil {
		log.FromContext(ctx).Debug("read cgroup paths for OOM check", log.Err(err))
		return false
	}

	if dir, ok := paths["memory"]; ok {
		return counter(filepath.Join(dir, "memory.oom_control"), "oom_kill") > 0
	}
	if dir, ok := paths[""]; ok {
		return counter(filepath.Join(dir, "memory.events"), "oom_kill") > 0
	}
	return false
}

// cgroupPaths returns runc's map of cgroup controller to directory. The key
// "" is the cgroup v2 directory.
func (s *supervisor) cgroupPaths() (map[string]string, error) {
	root := s.opts.RuncRoot
	if root == "" {
		// runc's default --root for uid 0.
		root = "/run/runc"
	}
	data, err := os.ReadFile(filepath.Join(root, s.opts.ID, "state.json"))
	if err != nil {
		return nil, err
	}
	var state struct {
		CgroupPaths map[string]string `json:"cgroup_paths"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return nil, err
	}
	return state.CgroupPaths, nil
}

// counter returns the value of a "name value" line in a cgroup file, or 0.
func counter(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()

	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		key, value, ok := strings.Cut(scanner.Text(), " ")
		if !ok || key != name {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}
