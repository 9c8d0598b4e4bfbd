package server

import (
	"context"
	"io"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/system"
)

// Backend is everything the API server needs from the engine.
type Backend interface {
	ContainerBackend
	ContainerPauser
	ContainerRenamer
	ContainerUpdater
	ContainerTopper
	ContainerChanger
	ContainerExporter
	ContainerCommitter
	ContainerStatser
	ContainerPruner
	ExecBackend
	ImagePruner
	ImageBackend
	ImageArchiver
	RegistryBackend
	BuildBackend
	SystemBackend
	NetworkBackend
	VolumeBackend
}

// ContainerCreateRequest is the decoded body and query of POST /containers/create.
type ContainerCreateRequest struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig
}

// ContainerListOptions are the query parameters of GET /containers/json.
type ContainerListOptions struct {
	All     bool
	Limit   int
	Size    bool
	Filters map[string][]string
}

// AttachOptions describe one attach stream. Stdout and Stderr are already
// framed by the server when the container has no TTY; the backend writes the
// raw bytes of each stream to them and reads Stdin until it returns io.EOF.
type AttachOptions struct {
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	UseStdin   bool
	UseStdout  bool
	UseStderr  bool
	Stream     bool
	Logs       bool
	DetachKeys string
}

// LogsOptions are the query parameters of GET /containers/{id}/logs.
type LogsOptions struct {
	Stdout     bool
	Stderr     bool
	Follow     bool
	Timestamps bool
	Tail       int // -1 for all lines
	Since      time.Time
	Until      time.Time
}

// LogMessage is one line of a container log.
type LogMessage struct {
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Line   []byte // includes the trailing newline when the process wrote one
}

// ContainerBackend manages containers.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, req ContainerCreateRequest) (container.CreateResponse, error)
	ContainerStart(ctx context.Context, nameOrID string) error
	// ContainerStop sends the stop signal, waits timeout (nil: the
	// container's own or 10 s), then kills the container.
	ContainerStop(ctx context.Context, nameOrID string, signal string, timeout *int) error
	ContainerRestart(ctx context.Context, nameOrID string, signal string, timeout *int) error
	ContainerKill(ctx context.Context, nameOrID string, signal string) error
	ContainerRemove(ctx context.Context, nameOrID string, force, removeVolumes bool) error
	ContainerList(ctx context.Context, opts ContainerListOptions) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, nameOrID string, size bool) (container.InspectResponse, error)
	// ContainerWait returns a channel that receives the result once the
	// container reaches condition. Errors found before waiting are returned
	// directly.
	ContainerWait(ctx context.Context, nameOrID string, condition container.WaitCondition) (<-chan container.WaitResponse, error)
	// ContainerAttach streams until the container exits, the client goes
	// away (ctx is cancelled) or the detach keys are read from Stdin.
	ContainerAttach(ctx context.Context, nameOrID string, opts AttachOptions) error
	// ContainerTTY reports whether the container was created with a TTY, so
	// the server can decide whether to frame attach and log streams.
	ContainerTTY(ctx context.Context, nameOrID string) (bool, error)
	ContainerResize(ctx context.Context, nameOrID string, height, width uint) error
	// ContainerLogs calls fn for each log line in order until the log ends,
	// or, with Follow, until the container stops or ctx is cancelled.
	ContainerLogs(ctx context.Context, nameOrID string, opts LogsOptions, fn func(LogMessage) error) error
}

// ContainerPauser freezes and thaws the processes of containers.
type ContainerPauser interface {
	ContainerPause(ctx context.Context, nameOrID string) error
	ContainerUnpause(ctx context.Context, nameOrID string) error
}

// ContainerUpdater changes the resources and restart policy of containers.
type ContainerUpdater interface {
	// ContainerUpdate stores the non-zero values of update in the
	// container's HostConfig and applies the limits if it runs.
	ContainerUpdate(ctx context.Context, nameOrID string, update container.UpdateConfig) (container.UpdateResponse, error)
}

// ContainerRenamer renames containers.
type ContainerRenamer interface {
	// ContainerRename gives a container a new, unused name.
	ContainerRename(ctx context.Context, nameOrID, newName string) error
}

// ContainerTopper lists the processes of containers.
type ContainerTopper interface {
	// ContainerTop runs ps with psArgs ("" for "-ef") and returns the rows
	// of the container's processes.
	ContainerTop(ctx context.Context, nameOrID, psArgs string) (container.TopResponse, error)
}

// ContainerChanger lists the filesystem changes of containers.
type ContainerChanger interface {
	// ContainerChanges lists the files the container added, changed or
	// deleted compared with its image, sorted by path.
	ContainerChanges(ctx context.Context, nameOrID string) ([]container.FilesystemChange, error)
}

// ContainerExporter exports the root filesystems of containers.
type ContainerExporter interface {
	// ContainerExport returns the container's whole root filesystem as a
	// tar. The caller closes it.
	ContainerExport(ctx context.Context, nameOrID string) (io.ReadCloser, error)
}

// ContainerCommitRequest is the decoded query of POST /commit.
type ContainerCommitRequest struct {
	Container  string
	Repository string // may be empty
	Tag        string
	Comment    string
	Author     string
	Changes    []string // Dockerfile instructions applied to the config
	NoPause    bool
}

// ContainerCommitter creates images from containers.
type ContainerCommitter interface {
	// ContainerCommit creates an image from the container's changes and
	// configuration and returns its ID ("sha256:...").
	ContainerCommit(ctx context.Context, req ContainerCommitRequest) (string, error)
}

// StatsOptions are the query parameters of GET /containers/{id}/stats.
type StatsOptions struct {
	Stream  bool // a sample every second until the client goes away
	OneShot bool // no earlier sample for PreCPUStats
}

// ContainerStatser reports the resource usage of containers.
type ContainerStatser interface {
	// ContainerStats calls fn with samples of the container's resource
	// usage, as opts requests.
	ContainerStats(ctx context.Context, nameOrID string, opts StatsOptions, fn func(container.StatsResponse) error) error
}

// ContainerPruner removes stopped containers.
type ContainerPruner interface {
	// ContainersPrune removes the stopped containers that pass filters
	// (until, label, label!).
	ContainersPrune(ctx context.Context, filters map[string][]string) (container.PruneReport, error)
}

// ImagePruner deletes unused images.
type ImagePruner interface {
	// ImagesPrune deletes the images no container uses that pass filters
	// (dangling, until, label, label!). Without dangling=false only
	// untagged images go.
	ImagesPrune(ctx context.Context, filters map[string][]string) (image.PruneReport, error)
}

// ImageImportRequest is the decoded query of POST /images/create?fromSrc=-.
type ImageImportRequest struct {
	Source   io.Reader // the root filesystem tarball, possibly compressed
	Ref      string    // repository[:tag], may be empty
	Changes  []string  // Dockerfile instructions applied to the config
	Message  string
	Platform string
}

// ImageBackend manages images.
type ImageBackend interface {
	ImageList(ctx context.Context, all bool, filters map[string][]string) ([]image.Summary, error)
	ImageInspect(ctx context.Context, nameOrID string) (image.InspectResponse, error)
	ImageHistory(ctx context.Context, nameOrID string) ([]image.HistoryResponseItem, error)
	ImageDelete(ctx context.Context, nameOrID string, force, noPrune bool) ([]image.DeleteResponse, error)
	ImageTag(ctx context.Context, nameOrID, repository, tag string) error
	// ImageImport returns the new image's ID ("sha256:...").
	ImageImport(ctx context.Context, req ImageImportRequest) (string, error)
}

// BuildRequest is the decoded query of POST /build.
type BuildRequest struct {
	Context io.Reader // tar stream, possibly compressed
	// AuthConfigs are the X-Registry-Config credentials by registry, for
	// pulling the images the build names.
	AuthConfigs map[string]registry.AuthConfig
	Dockerfile  string
	Tags        []string
	BuildArgs   map[string]*string
	Labels      map[string]string
	NoCache     bool
	Remove      bool
	ForceRm     bool
	Pull        bool
	Target      string
	Quiet       bool
	NetworkMode string
	ExtraHosts  []string
}

// BuildBackend builds images from Dockerfiles.
type BuildBackend interface {
	// Build writes progress as plain text to out and returns the image ID.
	// The server wraps the text in the classic builder's JSON stream.
	Build(ctx context.Context, req BuildRequest, out io.Writer) (string, error)
	// BuildCachePrune empties the build cache.
	BuildCachePrune(ctx context.Context) (build.CachePruneReport, error)
}

// SystemBackend reports on the daemon.
type SystemBackend interface {
	Info(ctx context.Context) (system.Info, error)
	Version(ctx context.Context) (system.VersionResponse, error)
	// Events calls fn for each event from since on (zero: only new
	// events) until until (zero: until ctx is cancelled).
	Events(ctx context.Context, since, until time.Time, filters map[string][]string, fn func(events.Message) error) error
}
