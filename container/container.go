// Package container holds the container record: its configuration, its
// lifecycle state machine, and the store that persists records as one JSON
// file per container.
package container

import (
	"net/netip"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/opencontainers/go-digest"
)

// Container is one container's persisted record. Lock mu (through Lock and
// Unlock) before reading or changing fields of a container that others can
// see.
type Container struct {
	mu sync.Mutex

	ID      string
	Name    string // without the leading slash
	Created time.Time

	Image     digest.Digest // image ID
	ImageName string        // the reference the user gave

	// Path and Args are the resolved entrypoint and command.
	Path string
	Args []string

	Config     *container.Config
	HostConfig *container.HostConfig

	State        State
	RestartCount int
	// ManuallyStopped is set when a user stopped or killed the container,
	// and keeps restart policies other than always from restarting it,
	// even across daemon restarts.
	ManuallyStopped bool `json:",omitempty"`

	// Network is the endpoint of the network in HostConfig.NetworkMode while
	// the container runs, with the published ports.
	Network *Endpoint `json:",omitempty"`
	// Networks are the networks the container is connected to, keyed by
	// network name. Records written before networks had names lack it.
	Networks map[string]*NetworkAttachment `json:",omitempty"`

	// MountPoints are the container's volumes, bind mounts and tmpfs
	// mounts.
	MountPoints []MountPoint `json:",omitempty"`

	// SnapshotKey names the read-write snapshot of the root filesystem.
	SnapshotKey string
	// Hidden containers run build steps; listings leave them out.
	Hidden bool `json:",omitempty"`
}

// Endpoint is a container's attachment to its main network.
type Endpoint struct {
	Bridge     string
	IPAddress  netip.Prefix
	Gateway    netip.Addr
	MacAddress string
	Ports      network.PortMap
}

// NetworkAttachment is a container's connection to one network: what the
// user requested, and the endpoint while the container runs.
type NetworkAttachment struct {
	NetworkID   string
	Aliases     []string   `json:",omitempty"`
	Links       []string   `json:",omitempty"` // legacy links, "TARGET:ALIAS"
	IPv4Address netip.Addr `json:",omitzero"`  // requested static address
	MacAddress  string     `json:",omitempty"` // requested MAC address

	// Set while the container runs.
	EndpointID string       `json:",omitempty"`
	IPAddress  netip.Prefix `json:",omitzero"`
	Gateway    netip.Addr   `json:",omitzero"`
	MAC        string       `json:",omitempty"`
	DNSNames   []string     `json:",omitempty"`
}

// Lock locks the record.
func (c *Container) Lock() { c.mu.Lock() }

// Unlock unlocks the record.
func (c *Container) Unlock() { c.mu.Unlock() }
