package compose

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"

	composetypes "github.com/compose-spec/compose-go/v2/types"
	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berth-engine/berth/compose"
)

// ensureNetworks creates the project's networks that do not exist yet,
// with the labels Docker Compose writes. An external network must exist.
func (s *session) ensureNetworks(ctx context.Context) error {
	keys := make([]string, 0, len(s.project.Networks))
	for key := range s.project.Networks {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		config := s.project.Networks[key]
		if !s.networkUsed(key) {
			continue
		}
		_, err := s.api.NetworkInspect(ctx, config.Name, client.NetworkInspectOptions{})
		if err == nil {
			continue
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
		if config.External {
			return fmt.Errorf("network %s declared as external, but could not be found", config.Name)
		}
		options, err := networkCreateOptions(s.project, key, config)
		if err != nil {
			return err
		}
		if _, err := s.api.NetworkCreate(ctx, config.Name, options); err != nil {
			return fmt.Errorf("failed to create network %s: %w", config.Name, err)
		}
		s.status("Network", config.Name, "Created")
	}
	return nil
}

// networkUsed reports whether an enabled service attaches to network key.
func (s *session) networkUsed(key string) bool {
	for _, service := range s.project.Services {
		if _, ok := service.Networks[key]; ok {
			return true
		}
	}
	return false
}

func networkCreateOptions(project *composetypes.Project, key string, config composetypes.NetworkConfig) (client.NetworkCreateOptions, error) {
	labels := map[string]string{
		compose.ProjectLabel: project.Name,
		compose.NetworkLabel: key,
		compose.VersionLabel: compose.Version,
	}
	for k, v := range config.Labels {
		labels[k] = v
	}
	options := client.NetworkCreateOptions{
		Driver:     config.Driver,
		Options:    config.DriverOpts,
		Internal:   config.Internal,
		Attachable: config.Attachable,
		EnableIPv4: config.EnableIPv4,
		EnableIPv6: config.EnableIPv6,
		Labels:     labels,
	}
	if config.Ipam.Driver != "" || len(config.Ipam.Config) > 0 {
		ipam := &network.IPAM{Driver: config.Ipam.Driver, Options: config.Ipam.Options}
		for _, pool := range config.Ipam.Config {
			var c network.IPAMConfig
			var err error
			if pool.Subnet != "" {
				if c.Subnet, err = netip.ParsePrefix(pool.Subnet); err != nil {
					return options, fmt.Errorf("network %s: invalid subnet %q: %w", key, pool.Subnet, err)
				}
			}
			if pool.IPRange != "" {
				if c.IPRange, err = netip.ParsePrefix(pool.IPRange); err != nil {
					return options, fmt.Errorf("network %s: invalid ip_range %q: %w", key, pool.IPRange, err)
				}
			}
			if pool.Gateway != "" {
				if c.Gateway, err = netip.ParseAddr(pool.Gateway); err != nil {
					return options, fmt.Errorf("network %s: invalid gateway %q: %w", key, pool.Gateway, err)
				}
			}
			ipam.Config = append(ipam.Config, c)
		}
		options.IPAM = ipam
	}
	return options, nil
}

// ensureVolumes creates the project's named volumes that do not exist
// yet. An external volume must exist.
func (s *session) ensureVolumes(ctx context.Context) error {
	keys := make([]string, 0, len(s.project.Volumes))
	for key := range s.project.Volumes {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		config := s.project.Volumes[key]
		_, err := s.api.VolumeInspect(ctx, config.Name, client.VolumeInspectOptions{})
		if err == nil {
			continue
		}
		if !errdefs.IsNotFound(err) {
			return err
		}
		if config.External {
			return fmt.Errorf("external volume %q not found", config.Name)
		}
		labels := map[string]string{
			compose.ProjectLabel: s.project.Name,
			compose.VolumeLabel:  key,
			compose.VersionLabel: compose.Version,
		}
		for k, v := range config.Labels {
			labels[k] = v
		}
		_, err = s.api.VolumeCreate(ctx, client.VolumeCreateOptions{
			Name:       config.Name,
			Driver:     config.Driver,
			DriverOpts: config.DriverOpts,
			Labels:     labels,
		})
		if err != nil {
			return fmt.Errorf("failed to create volume %s: %w", config.Name, err)
		}
		s.status("Volume", config.Name, "Created")
	}
	return nil
}

// removeNetworks removes the project's networks that berth compose or
// Docker Compose created, found by the project label.
func (s *session) removeNetworks(ctx context.Context) error {
	filters := make(client.Filters).Add("label", compose.ProjectLabel+"="+s.project.Name)
	result, err := s.api.NetworkList(ctx, client.NetworkListOptions{Filters: filters})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range result.Items {
		if _, err := s.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("failed to remove network %s: %w", n.Name, err))
			continue
		}
		s.status("Network", n.Name, "Removed")
	}
	return errors.Join(errs...)
}

// removeVolumes removes the project's named volumes, found by the project
// label. External volumes carry no such label and stay.
func (s *session) removeVolumes(ctx context.Context) error {
	filters := make(client.Filters).Add("label", compose.ProjectLabel+"="+s.project.Name)
	result, err := s.api.VolumeList(ctx, client.VolumeListOptions{Filters: filters})
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range result.Items {
		if _, err := s.api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("failed to remove volume %s: %w", v.Name, err))
			continue
		}
		s.status("Volume", v.Name, "Removed")
	}
	return errors.Join(errs...)
}
