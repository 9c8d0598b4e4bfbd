package engine

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	ctr "github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/runtime/spec"
)

// ContainerUpdate changes the resource limits and restart policy of a
// container. It stores them in the container's HostConfig and applies the
// limits with runc update when the container is running or paused. Zero
// values leave the current setting unchanged.
func (e *Engine) ContainerUpdate(ctx context.Context, ref string, update container.UpdateConfig) (container.UpdateResponse, error) {
	c, err := e.get(ref)
	if err != nil {
		return container.UpdateResponse{}, err
	}
	t := e.task(c.ID)
	t.op.Lock()
	defer t.op.Unlock()

	c.Lock()
	defer c.Unlock()

	hc := *c.HostConfig
	if update.Memory > 0 && update.MemorySwap == 0 && hc.MemorySwap > 0 && update.Memory > hc.MemorySwap {
		return container.UpdateResponse{}, fmt.Errorf("Memory limit should be smaller than already set memoryswap limit, "+
			"update the memoryswap at the same time: %w", errdefs.ErrInvalidArgument)
	}
	if update.Memory != 0 {
		hc.Memory = update.Memory
	}
	if update.MemorySwap != 0 {
		hc.MemorySwap = update.MemorySwap
	}
	if update.NanoCPUs != 0 {
		hc.NanoCPUs = update.NanoCPUs
	}
	if update.CPUShares != 0 {
		hc.CPUShares = update.CPUShares
	}
	if update.CPUPeriod != 0 {
		hc.CPUPeriod = update.CPUPeriod
	}
	if update.CPUQuota != 0 {
		hc.CPUQuota = update.CPUQuota
	}
	if update.CpusetCpus != "" {
		hc.CpusetCpus = update.CpusetCpus
	}
	if update.CpusetMems != "" {
		hc.CpusetMems = update.CpusetMems
	}
	if update.MemoryReservation != 0 {
		hc.MemoryReservation = update.MemoryReservation
	}
	if update.PidsLimit != nil {
		limit := *update.PidsLimit
		hc.PidsLimit = &limit
	}
	if update.RestartPolicy.Name != "" {
		if hc.AutoRemove {
			return container.UpdateResponse{}, fmt.Errorf("Restart policy cannot be updated because AutoRemove is enabled for the container: %w",
				errdefs.ErrInvalidArgument)
		}
		hc.RestartPolicy = update.RestartPolicy
	}
	if err := checkResources(&hc); err != nil {
		return container.UpdateResponse{}, err
	}
	if err := checkHostConfig(&hc); err != nil {
		return container.UpdateResponse{}, err
	}

	switch c.State.Status {
	case ctr.Running, ctr.Paused:
		swap := update.MemorySwap
		if !swapAccounting() {
			swap = 0
		}
		resources := spec.Resources(spec.Options{
			Memory:            update.Memory,
			MemorySwap:        swap,
			MemoryReservation: update.MemoryReservation,
			NanoCPUs:          update.NanoCPUs,
			CPUShares:         update.CPUShares,
			CPUPeriod:         update.CPUPeriod,
			CPUQuota:          update.CPUQuota,
			CpusetCpus:        update.CpusetCpus,
			CpusetMems:        update.CpusetMems,
			PidsLimit:         update.PidsLimit,
		})
		if err := e.runc().Update(ctx, c.ID, resources); err != nil {
			return container.UpdateResponse{}, fmt.Errorf("update resources of container %s: %w", c.ID, err)
		}
	}

	*c.HostConfig = hc
	if err := e.containers.Save(c); err != nil {
		return container.UpdateResponse{}, fmt.Errorf("save container %s: %w", c.ID, err)
	}
	log.FromContext(ctx).Info("container updated", log.KeyContainer, c.ID)
	e.publishContainer(c, events.ActionUpdate)
	return container.UpdateResponse{Warnings: []string{}}, nil
}

// checkResources rejects limits that cannot work together, with the messages
// of Docker Engine.
func checkResources(hc *container.HostConfig) error {
	const minMemory = 6 * 1024 * 1024
	if hc.Memory != 0 && hc.Memory < minMemory {
		return fmt.Errorf("Minimum memory limit allowed is 6MB: %w", errdefs.ErrInvalidArgument)
	}
	if hc.Memory == 0 && hc.MemorySwap > 0 {
		return fmt.Errorf("You should always set the Memory limit when using Memoryswap limit, see usage: %w",
			errdefs.ErrInvalidArgument)
	}
	if hc.Memory > 0 && hc.MemorySwap > 0 && hc.MemorySwap < hc.Memory {
		return fmt.Errorf("Minimum memoryswap limit should be larger than memory limit, see usage: %w",
			errdefs.ErrInvalidArgument)
	}
	if cpus := runtime.NumCPU(); hc.NanoCPUs < 0 || hc.NanoCPUs > int64(cpus)*1e9 {
		return fmt.Errorf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available: %w",
			cpus, cpus, errdefs.ErrInvalidArgument)
	}
	if err := checkCpuset(hc.CpusetCpus); err != nil {
		return err
	}
	if hc.NanoCPUs > 0 && hc.CPUPeriod > 0 {
		return fmt.Errorf("Conflicting options: Nano CPUs and CPU Period cannot both be set: %w", errdefs.ErrInvalidArgument)
	}
	if hc.NanoCPUs > 0 && hc.CPUQuota > 0 {
		return fmt.Errorf("Conflicting options: Nano CPUs and CPU Quota cannot both be set: %w", errdefs.ErrInvalidArgument)
	}
	if hc.CPUPeriod != 0 && (hc.CPUPeriod < 1000 || hc.CPUPeriod > 1000000) {
		return fmt.Errorf("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000): %w",
			errdefs.ErrInvalidArgument)
	}
	if hc.CPUQuota > 0 && hc.CPUQuota < 1000 {
		return fmt.Errorf("CPU cfs quota can not be less than 1ms (i.e. 1000): %w", errdefs.ErrInvalidArgument)
	}
	if hc.MemoryReservation > 0 && hc.Memory > 0 && hc.MemoryReservation > hc.Memory {
		return fmt.Errorf("Minimum memory limit can not be less than memory reservation limit, see usage: %w",
			errdefs.ErrInvalidArgument)
	}
	if hc.CPUShares < 0 {
		return fmt.Errorf("invalid CPU shares %d: must not be negative: %w", hc.CPUShares, errdefs.ErrInvalidArgument)
	}
	return nil
}

// checkCpuset rejects a --cpuset-cpus list that is malformed or names CPUs
// this machine lacks, with Docker's message, instead of letting runc fail
// at start.
func checkCpuset(list string) error {
	if list == "" {
		return nil
	}
	cpus := runtime.NumCPU()
	for _, item := range strings.Split(list, ",") {
		first, last, isRange := strings.Cut(item, "-")
		if !isRange {
			last = first
		}
		lo, errLo := strconv.Atoi(first)
		hi, errHi := strconv.Atoi(last)
		if errLo != nil || errHi != nil || lo < 0 || hi < lo {
			return fmt.Errorf("Invalid value %s for cpuset cpus: %w", list, errdefs.ErrInvalidArgument)
		}
		if hi >= cpus {
			return fmt.Errorf("Requested CPUs are not available - requested %s, available: 0-%d: %w",
				list, cpus-1, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
