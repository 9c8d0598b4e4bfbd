// Package engine runs containers. It ties the image store, the snapshotter,
// the network manager, the shims and the builder together, and implements
// the backend the API server serves.
package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/berth-engine/berth/build"
	"github.com/berth-engine/berth/container"
	"github.com/berth-engine/berth/content"
	"github.com/berth-engine/berth/distribution"
	"github.com/berth-engine/berth/events"
	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/log"
	"github.com/berth-engine/berth/network"
	"github.com/berth-engine/berth/shim"
	"github.com/berth-engine/berth/snapshot"
	"github.com/berth-engine/berth/volume"
)

// Config sets where the engine keeps its state and which programs it runs.
type Config struct {
	DataRoot string // persistent state: images, layers, containers, networks, volumes
	ExecRoot string // runtime state: bundles, shim sockets, network namespaces

	RuncBinary string // OCI runtime; "runc" is looked up on PATH
	ShimBinary string // the berth binary that serves `berth shim`; "" is the daemon's own

	Bridge     string // default bridge name
	BridgeCIDR string // gateway address and prefix of the default bridge; "" picks one

	Version string // berth's version, reported by /version and /info

	// StopContainersOnShutdown makes Close stop running containers with
	// their stop signal and timeout, as dockerd without --live-restore
	// does. Otherwise they keep running under their shims.
	StopContainersOnShutdown bool

	// InsecureRegistries may be reached over plain HTTP: hosts and CIDR
	// ranges, as dockerd's --insecure-registry takes them.
	InsecureRegistries []string
	// RegistryCertsDir holds per-registry TLS certificates,
	// /etc/docker/certs.d if empty.
	RegistryCertsDir string
}

// Engine is the container engine. Its methods are safe for concurrent use.
type Engine struct {
	cfg Config

	initBinary string // the berth executable that --init mounts as the container's PID 1

	// ctx lives as long as the daemon; monitors and restart work use it
	// rather than the context of the request that started them.
	ctx context.Context

	containers *container.Store
	content    *content.Store
	snapshots  *snapshot.Store
	images     *image.Store
	network    *network.Manager
	volumes    *volume.Store
	builder    *build.Builder
	registry   *distribution.Service
	events     *events.Bus
	shims      *shim.Launcher

	mu    sync.Mutex
	tasks map[string]*task // per-container runtime bookkeeping, by container ID

	// execs holds the exec instances by ID (*execInstance).
	execs sync.Map

	// imageUse is held for reading while a container is created from an
	// image and for writing while an image is deleted, so that a delete
	// never misses a container created at the same moment.
	imageUse sync.RWMutex

	// closing is set when the daemon shuts down; exits after it do not
	// trigger restart policies.
	closing atomic.Bool
}

// New opens every store under the configured roots and reconnects to the
// containers that kept running while no daemon was up.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.RuncBinary == "" {
		cfg.RuncBinary = "runc"
	}
	initBinary := cfg.ShimBinary
	if cfg.ShimBinary == "" {
		// Shims run the daemon's own executable through /proc, which stays
		// valid when the file is rebuilt or deleted while the daemon runs.
		// runc cannot bind-mount that link, so --init mounts the file.
		cfg.ShimBinary = fmt.Sprintf("/proc/%d/exe", os.Getpid())
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find berth executable for --init: %w", err)
		}
		initBinary = exe
	}
	for _, dir := range []string{cfg.DataRoot, cfg.ExecRoot, filepath.Join(cfg.ExecRoot, "containers")} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}

	e := &Engine{cfg: cfg, ctx: context.WithoutCancel(ctx), events: events.New(), tasks: map[string]*task{},
		initBinary: initBinary}
	var err error
	if e.content, err = content.New(filepath.Join(cfg.DataRoot, "content")); err != nil {
		return nil, fmt.Errorf("open content store: %w", err)
	}
	if e.snapshots, err = snapshot.New(cfg.DataRoot); err != nil {
		return nil, fmt.Errorf("open snapshot store: %w", err)
	}
	if e.images, err = image.New(filepath.Join(cfg.DataRoot, "images"), e.content, e.snapshots); err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	e.registry, err = distribution.New(e.images, distribution.Config{
		InsecureRegistries: cfg.InsecureRegistries,
		CertsDir:           cfg.RegistryCertsDir,
		UserAgent:          "berth/" + cfg.Version,
	})
	if err != nil {
		return nil, err
	}
	if e.volumes, err = volume.New(filepath.Join(cfg.DataRoot, "volumes")); err != nil {
		return nil, fmt.Errorf("open volume store: %w", err)
	}
	if e.containers, err = container.NewStore(ctx, filepath.Join(cfg.DataRoot, "containers")); err != nil {
		return nil, fmt.Errorf("open container store: %w", err)
	}
	e.network, err = network.New(ctx, network.Config{
		StateDir:   filepath.Join(cfg.DataRoot, "networks"),
		NetNSDir:   e.netnsDir(),
		Bridge:     cfg.Bridge,
		BridgeCIDR: cfg.BridgeCIDR,
		Table:      "berth-" + cfg.Bridge,
	})
	if err != nil {
		return nil, fmt.Errorf("set up network: %w", err)
	}
	if e.builder, err = build.New(e.images, e, filepath.Join(cfg.DataRoot, "builder")); err != nil {
		return nil, fmt.Errorf("open builder: %w", err)
	}
	e.builder.SetPuller(e)

	e.shims = shim.NewLauncher(e.ctx, cfg.ShimBinary)
	e.restore(ctx)
	e.restoreVolumes(ctx)
	e.restoreNetwork(ctx)
	e.pruneLayers(ctx)
	e.restartByPolicy(ctx)
	return e, nil
}

// Close releases what the daemon holds. Running containers keep running
// under their shims unless Config.StopContainersOnShutdown is set.
func (e *Engine) Close(ctx context.Context) error {
	e.closing.Store(true)
	if e.cfg.StopContainersOnShutdown {
		e.stopForShutdown(ctx)
	}
	e.shims.Close()
	return e.network.Close(ctx)
}

func (e *Engine) shuttingDown() bool {
	return e.closing.Load()
}

// pruneLayers removes layers that no image or container uses any more, such
// as those of an image deleted with force while a container still used it.
func (e *Engine) pruneLayers(ctx context.Context) {
	pruned, err := e.images.PruneLayers(ctx)
	if err != nil {
		log.FromContext(ctx).Warn("prune unused layers", log.Err(err))
		return
	}
	if len(pruned) > 0 {
		log.FromContext(ctx).Info("pruned unused layers", "count", len(pruned))
	}
}

func (e *Engine) netnsDir() string {
	return filepath.Join(e.cfg.ExecRoot, "netns")
}

func (e *Engine) bundleDir(id string) string {
	return filepath.Join(e.cfg.ExecRoot, "containers", id)
}

func (e *Engine) runcRoot() string {
	return filepath.Join(e.cfg.ExecRoot, "runc")
}
