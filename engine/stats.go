package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-engine/berth/api/server"
	ctr "github.com/berth-engine/berth/container"
)

// statsInterval is the time between two samples of a stats stream, and
// between the two samples of a request that wants CPU usage deltas, as in
// Docker.
const statsInterval = time.Second

// cgroupRoot is the mount point of the cgroup file systems.
const cgroupRoot = "/sys/fs/cgroup"

// ContainerStats calls fn with samples of the container's resource usage:
// one with opts.OneShot, otherwise one whose PreCPUStats is a sample taken
// statsInterval earlier, and with opts.Stream one every statsInterval
// until ctx is cancelled or the container stops. A container that is not
// running yields one sample with only its ID and name.
func (e *Engine) ContainerStats(ctx context.Context, ref string, opts server.StatsOptions, fn func(container.StatsResponse) error) error {
	c, err := e.get(ref)
	if err != nil {
		return err
	}
	var prev container.StatsResponse
	for first := true; ; first = false {
		c.Lock()
		id, name, pid, status := c.ID, c.Name, c.State.Pid, c.State.Status
		c.Unlock()
		running := status == ctr.Running || status == ctr.Paused
		if !running {
			if !first {
				return nil
			}
			return fn(container.StatsResponse{ID: id, Name: "/" + strings.TrimPrefix(name, "/"), Read: time.Now()})
		}

		sample, err := readStats(pid)
		if err != nil {
			return fmt.Errorf("stats of container %s: %w", id, err)
		}
		sample.ID = id
		sample.Name = "/" + strings.TrimPrefix(name, "/")
		sample.OSType = "linux"
		sample.PreRead = prev.Read
		sample.PreCPUStats = prev.CPUStats

		if first && !opts.OneShot {
			prev = sample
			if !sleepCtx(ctx, statsInterval) {
				return nil
			}
			continue
		}
		if err := fn(sample); err != nil {
			return err
		}
		if !opts.Stream {
			return nil
		}
		prev = sample
		if !sleepCtx(ctx, statsInterval) {
			return nil
		}
	}
}

// sleepCtx waits d and reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// readStats reads one sample of the resource usage of the process pid's
// cgroups and network namespace.
func readStats(pid int) (container.StatsResponse, error) {
	stats := container.StatsResponse{Read: time.Now()}
	paths, err := cgroupPaths(pid)
	if err != nil {
		return stats, err
	}
	if unified, ok := paths[""]; ok && len(paths) == 1 {
		readCgroup2(&stats, filepath.Join(cgroupRoot, unified))
	} else {
		readCgroup1(&stats, paths)
	}
	stats.CPUStats.SystemUsage = systemCPUUsage()
	stats.CPUStats.OnlineCPUs = uint32(runtime.NumCPU())
	stats.MemoryStats.Limit = min(stats.MemoryStats.Limit, hostMemory())
	stats.Networks = readNetDev(pid)
	return stats, nil
}

// cgroupPaths returns the cgroup of pid per controller from
// /proc/<pid>/cgroup. The cgroup v2 entry has the key "".
func cgroupPaths(pid int) (map[string]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for controller := range strings.SplitSeq(parts[1], ",") {
			paths[controller] = parts[2]
		}
	}
	return paths, nil
}

// readCgroup1 fills stats from the cgroup v1 controllers in paths.
func readCgroup1(stats *container.StatsResponse, paths map[string]string) {
	dir := func(controller string) string {
		return filepath.Join(cgroupRoot, controller, paths[controller])
	}
	cpu := dir("cpuacct")
	stats.CPUStats.CPUUsage.TotalUsage = readUint(filepath.Join(cpu, "cpuacct.usage"))
	for field := range strings.FieldsSeq(readString(filepath.Join(cpu, "cpuacct.usage_percpu"))) {
		n, _ := strconv.ParseUint(field, 10, 64)
		stats.CPUStats.CPUUsage.PercpuUsage = append(stats.CPUStats.CPUUsage.PercpuUsage, n)
	}

	mem := dir("memory")
	stats.MemoryStats.Usage = readUint(filepath.Join(mem, "memory.usage_in_bytes"))
	stats.MemoryStats.MaxUsage = readUint(filepath.Join(mem, "memory.max_usage_in_bytes"))
	stats.MemoryStats.Failcnt = readUint(filepath.Join(mem, "memory.failcnt"))
	stats.MemoryStats.Limit = readUint(filepath.Join(mem, "memory.limit_in_bytes"))
	stats.MemoryStats.Stats = readKeyValues(filepath.Join(mem, "memory.stat"))

	pids := dir("pids")
	stats.PidsStats.Current = readUint(filepath.Join(pids, "pids.current"))
	stats.PidsStats.Limit = readUint(filepath.Join(pids, "pids.max"))

	for line := range strings.Lines(readString(filepath.Join(dir("blkio"), "blkio.throttle.io_service_bytes"))) {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			continue
		}
		if entry, ok := blkioEntry(fields[0], fields[1], fields[2]); ok {
			stats.BlkioStats.IoServiceBytesRecursive = append(stats.BlkioStats.IoServiceBytesRecursive, entry)
		}
	}
}

// readCgroup2 fills stats from the cgroup v2 directory dir.
func readCgroup2(stats *container.StatsResponse, dir string) {
	cpu := readKeyValues(filepath.Join(dir, "cpu.stat"))
	stats.CPUStats.CPUUsage.TotalUsage = cpu["usage_usec"] * 1000
	stats.CPUStats.CPUUsage.UsageInUsermode = cpu["user_usec"] * 1000
	stats.CPUStats.CPUUsage.UsageInKernelmode = cpu["system_usec"] * 1000

	stats.MemoryStats.Usage = readUint(filepath.Join(dir, "memory.current"))
	stats.MemoryStats.Limit = readUint(filepath.Join(dir, "memory.max"))
	stats.MemoryStats.Stats = readKeyValues(filepath.Join(dir, "memory.stat"))

	stats.PidsStats.Current = readUint(filepath.Join(dir, "pids.current"))
	stats.PidsStats.Limit = readUint(filepath.Join(dir, "pids.max"))

	for line := range strings.Lines(readString(filepath.Join(dir, "io.stat"))) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		for _, kv := range fields[1:] {
			key, value, _ := strings.Cut(kv, "=")
			op := map[string]string{"rbytes": "read", "wbytes": "write"}[key]
			if op == "" {
				continue
			}
			if entry, ok := blkioEntry(fields[0], op, value); ok {
				stats.BlkioStats.IoServiceBytesRecursive = append(stats.BlkioStats.IoServiceBytesRecursive, entry)
			}
		}
	}
}

// blkioEntry parses a "major:minor" device, an operation and a byte count.
func blkioEntry(device, op, value string) (container.BlkioStatEntry, bool) {
	majorText, minorText, ok := strings.Cut(device, ":")
	major, majorErr := strconv.ParseUint(majorText, 10, 64)
	minor, minorErr := strconv.ParseUint(minorText, 10, 64)
	n, valueErr := strconv.ParseUint(value, 10, 64)
	if !ok || majorErr != nil || minorErr != nil || valueErr != nil {
		return container.BlkioStatEntry{}, false
	}
	return container.BlkioStatEntry{Major: major, Minor: minor, Op: strings.ToLower(op), Value: n}, true
}

// readNetDev returns the counters of the interfaces in the network
// namespace of pid, without the loopback interface.
func readNetDev(pid int) map[string]container.NetworkStats {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return nil
	}
	networks := map[string]container.NetworkStats{}
	for line := range strings.Lines(string(data)) {
		name, counters, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		fields := strings.Fields(counters)
		if !ok || name == "lo" || len(fields) < 12 {
			continue
		}
		n := make([]uint64, 12)
		for i := range n {
			n[i], _ = strconv.ParseUint(fields[i], 10, 64)
		}
		networks[name] = container.NetworkStats{
			RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11],
		}
	}
	return networks
}

// systemCPUUsage returns the host's total CPU time in nanoseconds from the
// first line of /proc/stat, which counts in USER_HZ (100 per second on
// Linux).
func systemCPUUsage() uint64 {
	first, _, _ := strings.Cut(readString("/proc/stat"), "\n")
	fields := strings.Fields(first)
	if len(fields) < 8 || fields[0] != "cpu" {
		return 0
	}
	var ticks uint64
	for _, field := range fields[1:8] {
		n, _ := strconv.ParseUint(field, 10, 64)
		ticks += n
	}
	return ticks * uint64(time.Second/100)
}

// hostMemory returns the host's memory in bytes, the limit of a container
// without a lower one.
func hostMemory() uint64 {
	for line := range strings.Lines(readString("/proc/meminfo")) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kib, _ := strconv.ParseUint(fields[0], 10, 64)
				return kib * 1024
			}
		}
	}
	return ^uint64(0)
}

func readString(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return string(data)
}

// readUint reads a file with one number. A missing file reads as 0 and
// "max" as the largest value.
func readUint(path string) uint64 {
	text := strings.TrimSpace(readString(path))
	if text == "max" {
		return ^uint64(0)
	}
	n, _ := strconv.ParseUint(text, 10, 64)
	return n
}

// readKeyValues reads a file of "key value" lines.
func readKeyValues(path string) map[string]uint64 {
	values := map[string]uint64{}
	scanner := bufio.NewScanner(bytes.NewReader([]byte(readString(path))))
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 2 {
			continue
		}
		if n, err := strconv.ParseUint(fields[1], 10, 64); err == nil {
			values[fields[0]] = n
		}
	}
	return values
}
