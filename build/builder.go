// Package build executes Dockerfiles the way Docker's classic builder does.
// Every instruction yields an image. RUN goes through a Runner, which runs
// the command in a container and commits it. COPY, ADD and WORKDIR write
// their layer tar directly, and the other instructions only change the
// image configuration. Steps are cached by their parent image, instruction
// and source files. Progress is written in the classic builder's text form
// ("Step 1/3 : FROM busybox", " ---> 1a2b3c4d5e6f", "Successfully built
// ..."), which Docker clients parse.
package build

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/log"
)

// ImageStore is the part of the image store the builder uses.
type ImageStore interface {
	// Get returns the image with the given name or ID.
	Get(ctx context.Context, nameOrID string) (image.Image, error)
	// Create stores an image on parent ("" for none) with an optional
	// uncompressed layer tar (nil for a configuration-only step).
	Create(ctx context.Context, parent digest.Digest, layer io.Reader, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error)
	// Tag points ref at the image id.
	Tag(ctx context.Context, id digest.Digest, ref string) error
}

// Runner runs the command of a RUN instruction and commits the result.
// When the command exits with a non-zero code, Run returns a *RunError
// (or another error with the same message).
type Runner interface {
	Run(ctx context.Context, req RunRequest) (image.Image, error)
}

// Puller fetches images that a build names but the image store lacks, and
// base images again for Options.Pull.
type Puller interface {
	// PullImage pulls ref into the image store, writing status lines
	// such as "Status: Downloaded newer image for busybox:latest" to out.
	PullImage(ctx context.Context, ref string, out io.Writer) error
}

// RunRequest is one RUN instruction for a Runner. The Runner runs Cmd in
// a temporary container of Image, commits the container's changes as a new
// image with Config and CreatedBy as its history entry, and removes the
// container.
type RunRequest struct {
	// Image is the image to run the command in; its ID is "" when the
	// stage starts FROM scratch and nothing was committed yet.
	Image image.Image
	// Config is the configuration of the image to commit. The command
	// runs as Config.Config.User in Config.Config.WorkingDir, which is
	// created if missing. The image's healthcheck does not run.
	Config dockerspec.DockerOCIImage
	// Cmd is the full argv. The image's entrypoint does not apply.
	Cmd []string
	// Env is the command's environment: Config.Config.Env plus the build
	// arguments in effect. It is not stored in the committed image.
	Env []string
	// Output receives, in this order, " ---> Running in <12 hex digits of
	// the container ID>\n", the command's stdout and stderr, and
	// "Removing intermediate container <12 hex digits>\n" once the
	// container is removed.
	Output io.Writer
	// CreatedBy is the history entry of the committed layer.
	CreatedBy string
	// Script, when set, is a file the command runs: the Runner makes it
	// readable and executable at ScriptDir/Script.Name for the duration
	// of the command, outside the committed layer.
	Script *Script
	// NetworkMode is the container's network: "host", "none", or ""
	// and "default" for the default bridge.
	NetworkMode string
	// ExtraHosts are "host:ip" lines added to the container's /etc/hosts.
	ExtraHosts []string
}

// ScriptDir is where a RUN here-document that starts with "#!" is
// mounted, as BuildKit mounts it.
const ScriptDir = "/dev/pipes"

// Script is a RUN here-document that starts with an interpreter line.
type Script struct {
	Name string
	Data string
}

// RunError is the error a Runner returns when the command exits with a
// non-zero code. Its message is Docker's.
type RunError struct {
	Cmd  []string
	Code int
}

// Error implements error.
func (e *RunError) Error() string {
	return fmt.Sprintf("The command '%s' returned a non-zero code: %d", strings.Join(e.Cmd, " "), e.Code)
}

// ExitCode returns the command's exit code. The API server sends it as the
// code of the build's error message, which the docker CLI exits with.
func (e *RunError) ExitCode() int {
	return e.Code
}

// Options are the parameters of one build.
type Options struct {
	// Dockerfile is the Dockerfile's path in the context; "" means
	// "Dockerfile".
	Dockerfile string
	// Tags are the names given to the result, such as "busybox:latest".
	Tags []string
	// BuildArgs are the --build-arg values; a nil value leaves the
	// argument unset.
	BuildArgs map[string]*string
	// Labels are added to the last stage as LABEL instructions.
	Labels map[string]string
	// NoCache disables cache lookups; the steps are still recorded.
	NoCache bool
	// Pull pulls every FROM image that is not a stage or scratch, even
	// when the store has it.
	Pull bool
	// Puller, when set, pulls for this build instead of the builder's
	// Puller, for example with the client's registry credentials.
	Puller Puller
	// Target is the name of the last stage to build; "" builds all.
	Target string
	// Quiet suppresses the progress output: only the image ID is written.
	Quiet bool
	// NetworkMode is the network of RUN containers: "host", "none", or
	// "" and "default" for the default bridge.
	NetworkMode string
	// ExtraHosts are "host:ip" entries for the /etc/hosts of RUN
	// containers.
	ExtraHosts []string
}

// Builder builds images from Dockerfiles.
type Builder struct {
	images   ImageStore
	runner   Runner
	layers   layerSource
	cache    *cacheIndex
	stateDir string
	// httpClient downloads the URL sources of ADD.
	httpClient *http.Client
	// puller is nil when the builder cannot pull: images missing from
	// the store are then errors.
	puller Puller
}

// SetPuller lets the builder pull the images that FROM and COPY --from
// name when the store lacks them, and base images for Options.Pull.
func (b *Builder) SetPuller(p Puller) {
	b.puller = p
}

// New returns a builder that keeps its cache in stateDir, which must be
// <data-root>/builder: the builder reads the manifests and layer blobs of
// images from the content store at <data-root>/content.
func New(images *image.Store, runner Runner, stateDir string) (*Builder, error) {
	blobDir := filepath.Join(filepath.Dir(stateDir), "content", "blobs")
	return newBuilder(images, runner, stateDir, contentLayers{blobDir: blobDir})
}

func newBuilder(images ImageStore, runner Runner, stateDir string, layers layerSource) (*Builder, error) {
	cache, err := loadCache(stateDir)
	if err != nil {
		return nil, err
	}
	// Work directories of builds interrupted by a crash are left over.
	leftovers, _ := filepath.Glob(filepath.Join(stateDir, workDirPrefix+"*"))
	for _, dir := range leftovers {
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("remove build directory %s: %w", dir, err)
		}
	}
	return &Builder{
		images: images, runner: runner, layers: layers, cache: cache, stateDir: stateDir,
		httpClient: &http.Client{},
	}, nil
}

// PruneCache empties the build cache, so that later builds run every step
// again, and returns the IDs of the images the cache entries named. The
// images stay in the store: tagged images and their parents need them,
// and image prune removes the ones nothing uses.
func (b *Builder) PruneCache() ([]digest.Digest, error) {
	return b.cache.clear()
}

// workDirPrefix names the per-build directories in the state directory
// that hold the context's and images' file contents.
const workDirPrefix = "build-"

// Build reads the build context (a tar stream, possibly compressed), runs
// its Dockerfile and tags the result. Progress goes to out.
func (b *Builder) Build(ctx context.Context, contextTar io.Reader, opts Options, out io.Writer) (image.Image, error) {
	tags, err := parseTags(opts.Tags)
	if err != nil {
		return image.Image{}, err
	}
	progress := out
	if opts.Quiet {
		progress = io.Discard
	}

	work, err := os.MkdirTemp(b.stateDir, workDirPrefix)
	if err != nil {
		return image.Image{}, fmt.Errorf("create build directory: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(work); err != nil {
			log.FromContext(ctx).Warn("remove build directory", "path", work, log.Err(err))
		}
	}()

	blobs := &blobStore{dir: work}
	dockerfile, tree, err := loadContext(ctx, contextTar, opts.Dockerfile, blobs, progress)
	if err != nil {
		return image.Image{}, err
	}
	stages, metaArgs, err := parseDockerfile(dockerfile, opts, progress)
	if err != nil {
		return image.Image{}, parseErrorAtLine(dockerfileName(opts), err)
	}

	run := &buildRun{
		builder: b, opts: opts, out: progress, context: tree, blobs: blobs, dockerfile: dockerfileName(opts),
		escape: dockerfile.EscapeToken,
		trees:  map[digest.Digest]*imageTree{}, fromTrees: map[digest.Digest]*imageTree{},
	}
	img, err := run.execute(ctx, stages, metaArgs)
	if err != nil {
		return image.Image{}, err
	}

	fmt.Fprintf(progress, "Successfully built %s\n", shortID(img.ID))
	for _, tag := range tags {
		if err := b.images.Tag(ctx, img.ID, tag.String()); err != nil {
			return image.Image{}, fmt.Errorf("tag %s: %w", reference.FamiliarString(tag), err)
		}
		fmt.Fprintf(progress, "Successfully tagged %s\n", reference.FamiliarString(tag))
	}
	if len(tags) > 0 {
		// Reload the image so that its RepoTags include the new tags.
		if img, err = b.images.Get(ctx, img.ID.String()); err != nil {
			return image.Image{}, err
		}
	}
	if opts.Quiet {
		fmt.Fprintln(out, img.ID)
	}
	return img, nil
}

// loadContext reads the build context, its Dockerfile and .dockerignore,
// and removes the ignored files from the context.
func loadContext(ctx context.Context, contextTar io.Reader, name string, blobs *blobStore, progress io.Writer) (*parser.Result, *fsTree, error) {
	if name == "" {
		name = defaultDockerfile
	}
	tree, err := readContext(ctx, contextTar, blobs)
	if err != nil {
		return nil, nil, err
	}
	data, err := readDockerfile(tree, name)
	if err != nil {
		return nil, nil, err
	}
	patterns, err := ignorePatterns(tree, name)
	if err != nil {
		return nil, nil, err
	}
	if err := applyIgnore(tree, patterns); err != nil {
		return nil, nil, err
	}

	if syntax, _, _, ok := parser.DetectSyntax(data); ok && !isDockerfileFrontend(syntax) {
		fmt.Fprintf(progress, "[WARNING]: Ignoring syntax directive %q: the classic builder runs only the built-in Dockerfile frontend\n", syntax)
	}
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s: %w", name, invalid(err))
	}
	return res, tree, nil
}

// isDockerfileFrontend reports whether a syntax directive names Docker's
// Dockerfile frontend at version 1 (docker/dockerfile:1, :1.7,
// :1.7-labs, with or without docker.io/ and a digest), whose syntax the
// builder parses itself.
func isDockerfileFrontend(syntax string) bool {
	named, err := reference.ParseNormalizedNamed(syntax)
	if err != nil || named.Name() != "docker.io/docker/dockerfile" {
		return false
	}
	tagged, ok := named.(reference.Tagged)
	if !ok {
		// An untagged or digest-only reference is the latest version 1.
		return true
	}
	tag := tagged.Tag()
	return tag == "1" || strings.HasPrefix(tag, "1.") || strings.HasPrefix(tag, "1-")
}

// dockerfileName returns the Dockerfile's path in the context as errors
// name it.
func dockerfileName(opts Options) string {
	if opts.Dockerfile == "" {
		return defaultDockerfile
	}
	return opts.Dockerfile
}

// parseDockerfile splits the Dockerfile into stages, cuts them at the
// target and adds the label options to the last one.
func parseDockerfile(res *parser.Result, opts Options, progress io.Writer) ([]instructions.Stage, []instructions.ArgCommand, error) {
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, nil, invalid(err)
	}
	if len(stages) == 0 {
		return nil, nil, errdefs.ErrInvalidArgument.WithMessage("No image was generated. Is your Dockerfile empty?")
	}
	if opts.Target != "" {
		i, ok := instructions.HasStage(stages, opts.Target)
		if !ok {
			return nil, nil, errdefs.ErrInvalidArgument.WithMessage(
				fmt.Sprintf("target stage %q could not be found", opts.Target))
		}
		stages = stages[:i+1]
	}

	keys := make([]string, 0, len(opts.Labels))
	for k := range opts.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	last := &stages[len(stages)-1]
	for _, k := range keys {
		last.AddCommand(instructions.NewLabelCommand(k, opts.Labels[k], true))
	}

	res.PrintWarnings(progress)
	return stages, metaArgs, nil
}

// parseTags normalizes the tags, adding ":latest" where no tag is given.
func parseTags(tags []string) ([]reference.NamedTagged, error) {
	out := make([]reference.NamedTagged, 0, len(tags))
	for _, t := range tags {
		named, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, invalid(err))
		}
		if _, ok := named.(reference.Digested); ok {
			return nil, fmt.Errorf("invalid tag %q: a tag cannot contain a digest: %w", t, errdefs.ErrInvalidArgument)
		}
		tagged, ok := reference.TagNameOnly(named).(reference.NamedTagged)
		if !ok {
			return nil, fmt.Errorf("invalid tag %q: %w", t, errdefs.ErrInvalidArgument)
		}
		out = append(out, tagged)
	}
	return out, nil
}

// shortID returns the first 12 hex digits of an image ID, as Docker
// prints it; "" for no image.
func shortID(id digest.Digest) string {
	_, hex, ok := strings.Cut(string(id), ":")
	if !ok {
		hex = string(id)
	}
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

// invalidArgumentError marks an error as errdefs.ErrInvalidArgument while
// keeping its message.
type invalidArgumentError struct {
	error
}

func (e invalidArgumentError) Unwrap() []error {
	return []error{e.error, errdefs.ErrInvalidArgument}
}

// invalid marks err, such as a Dockerfile parse error, as an invalid
// argument.
func invalid(err error) error {
	return invalidArgumentError{err}
}
