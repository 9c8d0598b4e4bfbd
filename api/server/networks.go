package server

import (
	"context"
	"net/http"

	"github.com/moby/moby/api/types/network"
)

// NetworkBackend manages networks.
type NetworkBackend interface {
	// NetworkList returns the networks that pass filters (name, id, label,
	// driver, scope, type, dangling).
	NetworkList(ctx context.Context, filters map[string][]string) ([]network.Summary, error)
	// NetworkInspect returns a network by name, ID or ID prefix.
	NetworkInspect(ctx context.Context, ref string) (network.Inspect, error)
	NetworkCreate(ctx context.Context, req NetworkCreateRequest) (network.CreateResponse, error)
	NetworkRemove(ctx context.Context, ref string) error
	// NetworksPrune removes the unused user-defined networks that pass
	// filters (until, label, label!).
	NetworksPrune(ctx context.Context, filters map[string][]string) (network.PruneReport, error)
	NetworkConnect(ctx context.Context, ref string, req network.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req network.DisconnectRequest) error
}

// NetworkCreateRequest is the body of POST /networks/create.
type NetworkCreateRequest struct {
	Name string
	// CheckDuplicate is ignored, as by Docker Engine since API 1.44: a taken
	// name is always a conflict.
	CheckDuplicate bool `json:",omitempty"`
	Driver         string
	Scope          string
	EnableIPv4     *bool `json:",omitempty"`
	EnableIPv6     *bool `json:",omitempty"`
	IPAM           *network.IPAM
	Internal       bool
	Attachable     bool
	Ingress        bool
	ConfigOnly     bool
	ConfigFrom     *network.ConfigReference
	Options        map[string]string
	Labels         map[string]string
}

func (s *Server) addNetworkRoutes(rt *router) {
	rt.add(http.MethodGet, "/networks", s.getNetworks)
	rt.add(http.MethodPost, "/networks/create", s.postNetworkCreate)
	rt.add(http.MethodPost, "/networks/prune", s.postNetworksPrune)
	rt.add(http.MethodGet, "/networks/{id}", s.getNetwork)
	rt.add(http.MethodDelete, "/networks/{id}", s.deleteNetwork)
	rt.add(http.MethodPost, "/networks/{id}/connect", s.postNetworkConnect)
	rt.add(http.MethodPost, "/networks/{id}/disconnect", s.postNetworkDisconnect)
}

func (s *Server) getNetworks(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	list, err := s.backend.NetworkList(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) getNetwork(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	n, err := s.backend.NetworkInspect(r.Context(), vars["id"])
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, n)
}

func (s *Server) postNetworkCreate(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	var body NetworkCreateRequest
	if err := decodeJSONBody(r, &body); err != nil {
		return err
	}
	resp, err := s.backend.NetworkCreate(r.Context(), body)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	if err := s.backend.NetworkRemove(r.Context(), vars["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) postNetworksPrune(w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	filters, err := parseFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	report, err := s.backend.NetworksPrune(r.Context(), filters)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, report)
}

func (s *Server) postNetworkConnect(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var body network.ConnectRequest
	if err := decodeJSONBody(r, &body); err != nil {
		return err
	}
	if body.Container == "" {
		return invalidParameter("invalid request: container name or ID is empty")
	}
	if err := s.backend.NetworkConnect(r.Context(), vars["id"], body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) postNetworkDisconnect(w http.ResponseWriter, r *http.Request, vars map[string]string) error {
	var body network.DisconnectRequest
	if err := decodeJSONBody(r, &body); err != nil {
		return err
	}
	if body.Container == "" {
		return invalidParameter("invalid request: container name or ID is empty")
	}
	if err := s.backend.NetworkDisconnect(r.Context(), vars["id"], body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
