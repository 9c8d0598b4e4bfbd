package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/berth-engine/berth/internal/atomicfile"
)

const (
	stateFile    = "state.json"
	stateVersion = 1
)

// state is the content of <StateDir>/state.json. One file holds the bridge,
// the address allocations (the endpoint addresses and LastAddress) and the
// endpoints, so that a single atomic write keeps them consistent.
type state struct {
	Version       int                  `json:"version"`
	Bridge        string               `json:"bridge,omitempty"`
	BridgeCreated bool                 `json:"bridgeCreated"`
	Gateway       netip.Prefix         `json:"gateway"`
	LastAddress   netip.Addr           `json:"lastAddress"`
	Endpoints     map[string]*Endpoint `json:"endpoints"`
}

func newState() *state {
	return &state{Version: stateVersion, Endpoints: make(map[string]*Endpoint)}
}

// loadState reads the state file. A missing file is an empty state.
func loadState(dir string) (*state, error) {
	path := filepath.Join(dir, stateFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read network state: %w", err)
	}

	st := newState()
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("read network state %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("read network state %s: unsupported version %d", path, st.Version)
	}
	if st.Endpoints == nil {
		st.Endpoints = make(map[string]*Endpoint)
	}
	return st, nil
}

// saveLocked writes the Manager's state atomically. The caller holds m.mu.
func (m *Manager) saveLocked() error {
	st := &state{
		Version:       stateVersion,
		Bridge:        m.cfg.Bridge,
		BridgeCreated: m.bridgeCreated,
		Gateway:       m.gateway,
		LastAddress:   m.addresses.Last(),
		Endpoints:     m.endpoints,
	}
	if err := atomicfile.WriteJSON(filepath.Join(m.cfg.StateDir, stateFile), st, 0o600); err != nil {
		return fmt.Errorf("save network state: %w", err)
	}
	return nil
}
