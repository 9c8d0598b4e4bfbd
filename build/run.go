package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-engine/berth/image"
	"github.com/berth-engine/berth/internal/log"
)

// scratch is the FROM name for an empty base.
const scratch = "scratch"

// errLayerAbandoned stops the layer writer when the store stops reading.
var errLayerAbandoned = errors.New("image store stopped reading the layer")

// buildRun is the state of one Build call.
type buildRun struct {
	builder *Builder
	opts    Options
	// dockerfile is the Dockerfile's name in the context, for errors.
	dockerfile string
	out        io.Writer
	context    *fsTree
	blobs      *blobStore
	escape     rune
	lex        *shell.Lex
	args       *buildArgs
	// stages holds the finished stages in Dockerfile order.
	stages []builtStage
	// trees caches the file systems of the stage images. A cached tree
	// is extended in place when a later image adds layers to it.
	trees map[digest.Digest]*imageTree
	// fromTrees caches the file systems COPY --from reads; they never
	// change.
	fromTrees map[digest.Digest]*imageTree
	stepNum   int
	stepCount int
}

type builtStage struct {
	// name is the lower-case stage name, "" if the stage has none.
	name  string
	image image.Image
	// skipped marks a stage that the target does not need, which has no
	// image.
	skipped bool
}

// stage is the state of the stage being built.
type stage struct {
	// image is the last image of the stage; its ID is "" after FROM
	// scratch until the first step.
	image  image.Image
	config dockerspec.DockerOCIImage
	args   *buildArgs
	state  configState
}

func (r *buildRun) execute(ctx context.Context, stages []instructions.Stage, metaArgs []instructions.ArgCommand) (image.Image, error) {
	r.lex = shell.NewLex(r.escape)
	r.args = newBuildArgs(r.opts.BuildArgs)
	names := map[string]bool{}
	for _, s := range stages {
		name := strings.ToLower(s.Name)
		if name != "" && names[name] {
			return image.Image{}, errdefs.ErrInvalidArgument.WithMessage(s.Name + " stage name already used")
		}
		names[name] = true
	}
	needed := neededStages(stages, r.lex, globalArgEnv(r.lex, r.opts.BuildArgs, metaArgs))
	r.stepCount = len(metaArgs)
	for i, s := range stages {
		if needed[i] {
			r.stepCount += 1 + len(s.Commands)
		}
	}

	for i := range metaArgs {
		r.printStep(&metaArgs[i])
		if err := expandCommand(&metaArgs[i], r.lex, toEnv(r.args.stageValues())); err != nil {
			return image.Image{}, err
		}
		for _, arg := range metaArgs[i].Args {
			r.args.declare(arg.Key, arg.Value, true)
		}
	}

	for i := range stages {
		if !needed[i] {
			r.skipStage(&stages[i])
			continue
		}
		if err := r.buildStage(ctx, &stages[i]); err != nil {
			return image.Image{}, err
		}
	}

	if unused := r.args.unused(); len(unused) > 0 {
		fmt.Fprintf(r.out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	img := r.stages[len(r.stages)-1].image
	if img.ID == "" {
		return image.Image{}, errdefs.ErrInvalidArgument.WithMessage("No image was generated. Is your Dockerfile empty?")
	}
	return img, nil
}

func (r *buildRun) buildStage(ctx context.Context, s *instructions.Stage) error {
	r.printStep(s.SourceCode)
	st, err := r.from(ctx, s)
	if err != nil {
		return atLine(r.dockerfile, s.Location, err)
	}
	r.printImage(st)

	for _, cmd := range s.Commands {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("build cancelled: %w", err)
		}
		r.printStep(cmd)
		if err := r.dispatch(ctx, st, cmd); err != nil {
			return atLine(r.dockerfile, cmd.Location(), err)
		}
		r.printImage(st)
	}
	r.stages = append(r.stages, builtStage{name: strings.ToLower(s.Name), image: st.image})
	return nil
}

func (r *buildRun) printStep(instruction any) {
	r.stepNum++
	fmt.Fprintf(r.out, "Step %d/%d : %v\n", r.stepNum, r.stepCount, instruction)
}

func (r *buildRun) printImage(st *stage) {
	fmt.Fprintf(r.out, " ---> %s\n", shortID(st.image.ID))
}

func (r *buildRun) stageByName(name string) *builtStage {
	for i := range r.stages {
		if !r.stages[i].skipped && r.stages[i].name != "" && r.stages[i].name == strings.ToLower(name) {
			return &r.stages[i]
		}
	}
	return nil
}

// from starts a stage: it resolves the base image, which is an earlier
// stage, scratch or an image in the store, and runs its ONBUILD triggers.
func (r *buildRun) from(ctx context.Context, s *instructions.Stage) (*stage, error) {
	// NOTE: FROM --platform is accepted and ignored: images are built for
	// the daemon's platform.
	name, _, err := r.lex.ProcessWord(s.BaseName, shell.EnvsFromSlice(r.args.globalEnv()))
	if err != nil {
		return nil, fmt.Errorf("expand FROM %s: %w", s.BaseName, invalid(err))
	}
	if name == "" {
		return nil, errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf("base name (%s) should not be blank", s.BaseName))
	}

	var base image.Image
	switch prev := r.stageByName(name); {
	case prev != nil:
		base = prev.image
	case name == scratch:
	default:
		base, err = r.storeImage(ctx, name, r.opts.Pull)
		if err != nil {
			return nil, err
		}
	}

	cfg := cloneImageConfig(base.Config)
	if base.ID == "" {
		cfg = dockerspec.DockerOCIImage{}
		cfg.OS = "linux"
		cfg.Architecture = runtime.GOARCH
	}
	cfg.Author = ""
	if !slices.ContainsFunc(cfg.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }) {
		cfg.Config.Env = append(cfg.Config.Env, "PATH="+defaultPath)
	}
	st := &stage{image: base, config: cfg, args: r.args.forStage(), state: configState{notes: r.out}}

	triggers := st.config.Config.OnBuild
	if len(triggers) == 0 {
		return st, nil
	}
	st.config.Config.OnBuild = nil
	plural := "s"
	if len(triggers) == 1 {
		plural = ""
	}
	fmt.Fprintf(r.out, "# Executing %d build trigger%s\n", len(triggers), plural)
	for _, trigger := range triggers {
		if err := r.runTrigger(ctx, st, trigger); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func (r *buildRun) runTrigger(ctx context.Context, st *stage, trigger string) error {
	res, err := parser.Parse(strings.NewReader(trigger))
	if err != nil {
		return fmt.Errorf("parse ONBUILD trigger %q: %w", trigger, invalid(err))
	}
	if len(res.AST.Children) != 1 {
		return fmt.Errorf("parse ONBUILD trigger %q: a trigger must be a single instruction: %w",
			trigger, errdefs.ErrInvalidArgument)
	}
	cmd, err := instructions.ParseCommand(res.AST.Children[0])
	if err != nil {
		return fmt.Errorf("parse ONBUILD trigger %q: %w", trigger, invalid(err))
	}
	return r.dispatch(ctx, st, cmd)
}

// dispatch expands variables in an instruction and executes it.
func (r *buildRun) dispatch(ctx context.Context, st *stage, cmd instructions.Command) error {
	if err := expandCommand(cmd, r.lex, st.args.envWithArgs(st.config.Config.Env)); err != nil {
		return err
	}

	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		comment := "ARG"
		for _, arg := range c.Args {
			st.args.declare(arg.Key, arg.Value, false)
			comment += " " + arg.Key
			if arg.Value != nil {
				comment += "=" + *arg.Value
			}
		}
		return r.commit(ctx, st, comment)
	case *instructions.RunCommand:
		return r.run(ctx, st, c)
	case *instructions.CopyCommand, *instructions.AddCommand:
		req, err := copyRequestOf(cmd)
		if err != nil {
			return err
		}
		return r.copy(ctx, st, req)
	case *instructions.WorkdirCommand:
		if _, err := applyConfigCommand(&st.config, cmd, &st.state); err != nil {
			return err
		}
		return r.workdir(ctx, st)
	default:
		comment, err := applyConfigCommand(&st.config, cmd, &st.state)
		if err != nil {
			return err
		}
		return r.commit(ctx, st, comment)
	}
}

// commit records a configuration-only step. The history entry has
// Docker's form, such as `/bin/sh -c #(nop)  ENV A=b`.
func (r *buildRun) commit(ctx context.Context, st *stage, comment string) error {
	createdBy := strings.Join(append(shellOf(st.config.Config.Shell), "#(nop) ", comment), " ")
	return r.cachedStep(ctx, st, createdBy, nil, func(ctx context.Context, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error) {
		h.EmptyLayer = true
		return r.builder.images.Create(ctx, st.image.ID, nil, cfg, h)
	})
}

// stepFunc produces the image of a step from the configuration and history
// entry to commit.
type stepFunc func(ctx context.Context, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error)

// cachedStep runs create unless the cache holds the step's image, and
// records the result in the cache.
func (r *buildRun) cachedStep(ctx context.Context, st *stage, createdBy string, sources []string, create stepFunc) error {
	now := time.Now().UTC()
	cfg := cloneImageConfig(st.config)
	cfg.Created = &now
	cfg.Author = st.state.maintainer

	key, err := cacheKey(st.image.ID, cfg, createdBy, sources...)
	if err != nil {
		return err
	}
	if !r.opts.NoCache {
		if img, ok := r.builder.cache.get(ctx, r.builder.images, key); ok {
			fmt.Fprintln(r.out, " ---> Using cache")
			st.image = img
			return nil
		}
	}

	h := ocispec.History{Created: &now, CreatedBy: createdBy, Author: st.state.maintainer}
	img, err := create(ctx, cfg, h)
	if err != nil {
		return err
	}
	st.image = img
	if err := r.builder.cache.put(key, img.ID); err != nil {
		log.FromContext(ctx).Warn("record build step in cache", log.KeyImage, img.ID, log.Err(err))
	}
	return nil
}

// run executes RUN through the Runner. Build arguments in effect are set
// in the command's environment and, as in Docker, recorded in the history
// entry ("|1 A=b /bin/sh -c ...") so that they are part of the cache key.
func (r *buildRun) run(ctx context.Context, st *stage, c *instructions.RunCommand) error {
	if r.builder.runner == nil {
		return fmt.Errorf("RUN is not supported: the builder has no runner: %w", errdefs.ErrNotImplemented)
	}
	if len(c.FlagsUsed) > 0 {
		return buildKitOnly("RUN --" + c.FlagsUsed[0])
	}
	line, script, err := heredocCommand(c)
	if err != nil {
		return err
	}
	cmd := commandLine(line, st.config.Config.Shell)
	if len(cmd) == 0 {
		return fmt.Errorf("RUN requires a command: %w", errdefs.ErrInvalidArgument)
	}

	argEnv := st.args.argsNotIn(st.config.Config.Env)
	createdBy := strings.Join(cmd, " ")
	if hist := st.args.historyArgs(argEnv); len(hist) > 0 {
		createdBy = "|" + strconv.Itoa(len(hist)) + " " + strings.Join(hist, " ") + " " + createdBy
	}
	var keySources []string
	if script != nil {
		keySources = []string{"script=" + script.Name + ":" + digest.FromString(script.Data).String()}
	}
	return r.cachedStep(ctx, st, createdBy, keySources, func(ctx context.Context, cfg dockerspec.DockerOCIImage, _ ocispec.History) (image.Image, error) {
		output := &tailWriter{w: r.out}
		img, err := r.builder.runner.Run(ctx, RunRequest{
			Image:       st.image,
			Config:      cfg,
			Cmd:         cmd,
			Env:         append(slices.Clone(cfg.Config.Env), argEnv...),
			Output:      output,
			CreatedBy:   createdBy,
			Script:      script,
			NetworkMode: r.opts.NetworkMode,
			ExtraHosts:  r.opts.ExtraHosts,
		})
		var runErr *RunError
		if errors.As(err, &runErr) {
			return image.Image{}, &runOutputError{err: err, lines: output.tail()}
		}
		return img, err
	})
}

// workdir creates the working directory the stage's configuration names,
// with its missing parents, as a layer owned by root. When the directory
// exists the step only changes the configuration.
func (r *buildRun) workdir(ctx context.Context, st *stage) error {
	dir := st.config.Config.WorkingDir
	createdBy := strings.Join(append(shellOf(st.config.Config.Shell), "#(nop) WORKDIR "+dir), " ")
	return r.cachedStep(ctx, st, createdBy, nil, func(ctx context.Context, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error) {
		parent, err := r.imageTree(ctx, st.image)
		if err != nil {
			return image.Image{}, err
		}
		probe := newLayerWriter(io.Discard, parent.fsTree, *h.Created)
		resolved, err := probe.resolve(dir, true)
		if err != nil {
			return image.Image{}, err
		}
		if probe.isDir(resolved) {
			h.EmptyLayer = true
			return r.builder.images.Create(ctx, st.image.ID, nil, cfg, h)
		}
		return r.createWithLayer(ctx, st, cfg, h, parent.fsTree, func(w *layerWriter) error {
			return w.mkdirAll(resolved, owner{})
		})
	})
}

// copy executes COPY and ADD.
func (r *buildRun) copy(ctx context.Context, st *stage, req copyRequest) error {
	tree, clamp := r.context, false
	var fromImage *imageTree
	fromID := digest.Digest("")
	if req.from != "" {
		img, err := r.copyFromImage(ctx, req.from)
		if err != nil {
			return fmt.Errorf("invalid from flag value %s: %w", req.from, err)
		}
		fromImage, err = r.fromTree(ctx, img)
		if err != nil {
			return err
		}
		tree, clamp, fromID = fromImage.fsTree, true, img.ID
	}

	var sources []copySource
	if len(req.sources) > 0 || len(req.contents) == 0 {
		var err error
		if sources, err = resolveSources(tree, req, clamp); err != nil {
			return err
		}
	}
	if fromImage != nil {
		if err := fromImage.load(ctx, r.blobs, sourceFiles(sources)); err != nil {
			return err
		}
	}
	if req.command == "ADD" {
		for _, source := range req.sources {
			if !isURL(source) {
				continue
			}
			src, err := fetchURL(ctx, r.builder.httpClient, r.blobs, source, req.checksum)
			if err != nil {
				return err
			}
			sources = append(sources, src)
		}
	}
	docs, err := heredocSources(r.blobs, req.contents)
	if err != nil {
		return err
	}
	sources = append(sources, docs...)
	if len(sources) > 1 && !strings.HasSuffix(req.dest, "/") {
		return errdefs.ErrInvalidArgument.WithMessage(fmt.Sprintf(
			"When using %s with more than one source file, the destination must be a directory and end with a /", req.command))
	}

	digests := make([]string, 0, len(sources))
	for _, src := range sources {
		d, err := sourceDigest(src)
		if err != nil {
			return err
		}
		digests = append(digests, d)
	}
	flags := ""
	if req.chown != "" {
		flags += "--chown=" + req.chown + " "
	}
	if req.chmod != nil {
		flags += fmt.Sprintf("--chmod=%04o ", *req.chmod)
	}
	if req.link {
		flags += "--link "
	}
	comment := fmt.Sprintf("%s %s%s in %s ", req.command, flags, combinedDigest(digests), req.dest)
	createdBy := strings.Join(append(shellOf(st.config.Config.Shell), "#(nop) "+comment), " ")
	keySources := append(slices.Clone(digests), "from="+fromID.String(), "unpack="+strconv.FormatBool(req.unpack))

	return r.cachedStep(ctx, st, createdBy, keySources, func(ctx context.Context, cfg dockerspec.DockerOCIImage, h ocispec.History) (image.Image, error) {
		parent, err := r.imageTree(ctx, st.image)
		if err != nil {
			return image.Image{}, err
		}
		o, err := r.copyOwner(ctx, req, parent)
		if err != nil {
			return image.Image{}, err
		}
		base := parent.fsTree
		if req.link {
			// BuildKit writes a --link layer on an empty tree: missing
			// parents of the destination are new root-owned 0755
			// directories and symlinks in the parent image are not
			// followed.
			base = newFSTree()
		}
		return r.createWithLayer(ctx, st, cfg, h, base, func(w *layerWriter) error {
			w.chmod = req.chmod
			return writeCopy(w, req, st.config.Config.WorkingDir, sources, o)
		})
	})
}

// copyFromImage returns the image COPY --from names: a stage by name or
// index, or an image in the store.
func (r *buildRun) copyFromImage(ctx context.Context, from string) (image.Image, error) {
	if s := r.stageByName(from); s != nil {
		return s.image, nil
	}
	if i, err := strconv.Atoi(from); err == nil {
		switch {
		case i == len(r.stages):
			return image.Image{}, errors.New("refers to current build stage")
		case i < 0 || i > len(r.stages) || r.stages[i].skipped:
			return image.Image{}, errors.New("index out of bounds")
		}
		return r.stages[i].image, nil
	}
	return r.storeImage(ctx, from, false)
}

// storeImage returns the image called name from the store. It pulls the
// image first when forcePull is set, or when the store lacks it, if the
// builder has a Puller and name is a reference rather than an image ID.
func (r *buildRun) storeImage(ctx context.Context, name string, forcePull bool) (image.Image, error) {
	puller := r.opts.Puller
	if puller == nil {
		puller = r.builder.puller
	}
	pullable := puller != nil && isPullable(name)
	if !forcePull || !pullable {
		img, err := r.builder.images.Get(ctx, name)
		if err == nil || !errdefs.IsNotFound(err) || !pullable {
			return img, err
		}
	}
	if err := puller.PullImage(ctx, name, r.out); err != nil {
		return image.Image{}, err
	}
	return r.builder.images.Get(ctx, name)
}

// isPullable reports whether name is an image reference a registry can
// serve, as opposed to a full image ID.
func isPullable(name string) bool {
	if strings.HasPrefix(name, "sha256:") {
		return false
	}
	_, err := reference.ParseNormalizedNamed(name)
	return err == nil
}

// copyOwner returns the owner of copied files: --chown, or root, or nil
// to keep the owners of files copied from an image.
func (r *buildRun) copyOwner(ctx context.Context, req copyRequest, parent *imageTree) (*owner, error) {
	if req.chown != "" {
		o, err := parseChown(req.chown, func(name string) ([]byte, error) {
			return r.readImageFile(ctx, parent, name)
		})
		if err != nil {
			return nil, err
		}
		return &o, nil
	}
	if req.from != "" {
		return nil, nil
	}
	return &owner{}, nil
}

// readImageFile returns the content of a regular file in an image, or an
// error wrapping os.ErrNotExist.
func (r *buildRun) readImageFile(ctx context.Context, tree *imageTree, name string) ([]byte, error) {
	resolved, err := tree.resolve(name, true, true)
	if err != nil {
		return nil, err
	}
	n := tree.lookup(resolved)
	if n == nil || n.hdr.Typeflag != tar.TypeReg {
		return nil, fmt.Errorf("read %s: %w", name, os.ErrNotExist)
	}
	if err := tree.load(ctx, r.blobs, []*fsNode{n}); err != nil {
		return nil, err
	}
	return n.content.readAll()
}

// createWithLayer streams the layer that write produces into a new image.
func (r *buildRun) createWithLayer(ctx context.Context, st *stage, cfg dockerspec.DockerOCIImage, h ocispec.History, parent *fsTree, write func(w *layerWriter) error) (image.Image, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w := newLayerWriter(pw, parent, *h.Created)
		err := write(w)
		if err == nil {
			err = w.close()
		}
		pw.CloseWithError(err)
		done <- err
	}()

	img, err := r.builder.images.Create(ctx, st.image.ID, pr, cfg, h)
	pr.CloseWithError(errLayerAbandoned)
	if writeErr := <-done; writeErr != nil && !errors.Is(writeErr, errLayerAbandoned) {
		return image.Image{}, writeErr
	}
	if err != nil {
		return image.Image{}, err
	}
	return img, nil
}

// imageTree returns the file system of a stage image, extending the cached
// tree of an earlier image of the same stage when possible.
//
// NOTE: reading a layer's file list decompresses the whole layer, so a COPY
// after a RUN that wrote much data reads all of it once.
func (r *buildRun) imageTree(ctx context.Context, img image.Image) (*imageTree, error) {
	if img.ID == "" {
		return &imageTree{fsTree: newFSTree()}, nil
	}
	if t := r.trees[img.ID]; t != nil {
		return t, nil
	}
	layers, err := r.builder.layers.Layers(ctx, img)
	if err != nil {
		return nil, err
	}

	var bestID digest.Digest
	var best *imageTree
	for id, t := range r.trees {
		if isLayerPrefix(t.layers, layers) && (best == nil || len(t.layers) > len(best.layers)) {
			bestID, best = id, t
		}
	}
	if best == nil {
		best, err = newImageTree(ctx, layers)
	} else {
		delete(r.trees, bestID)
		err = best.extend(ctx, layers)
	}
	if err != nil {
		return nil, err
	}
	r.trees[img.ID] = best
	return best, nil
}

// fromTree returns the file system of an image COPY --from reads.
func (r *buildRun) fromTree(ctx context.Context, img image.Image) (*imageTree, error) {
	if t := r.fromTrees[img.ID]; t != nil {
		return t, nil
	}
	var layers []layerRef
	if img.ID != "" {
		var err error
		layers, err = r.builder.layers.Layers(ctx, img)
		if err != nil {
			return nil, err
		}
	}
	t, err := newImageTree(ctx, layers)
	if err != nil {
		return nil, err
	}
	r.fromTrees[img.ID] = t
	return t, nil
}

// heredocCommand returns the command line of a RUN with here-documents, as
// BuildKit forms it. A single here-document that is the whole command runs
// as a shell script, or, when it starts with "#!", as a file executed
// through the shell, which is returned as the script. Any other form is
// given to the shell with the here-document bodies put back, so the shell
// expands them as it would in a script.
func heredocCommand(c *instructions.RunCommand) (instructions.ShellDependantCmdLine, *Script, error) {
	line := c.ShellDependantCmdLine
	if len(c.Files) == 0 {
		return line, nil, nil
	}
	if len(line.CmdLine) != 1 || !line.PrependShell {
		return line, nil, fmt.Errorf("RUN with a here-document must use the shell form: %w", errdefs.ErrInvalidArgument)
	}
	line.CmdLine = slices.Clone(line.CmdLine)

	if parser.MustParseHeredoc(line.CmdLine[0]) != nil {
		data := c.Files[0].Data
		if c.Files[0].Chomp {
			data = parser.ChompHeredocContent(data)
		}
		if strings.HasPrefix(data, "#!") {
			script := &Script{Name: c.Files[0].Name, Data: data}
			line.CmdLine[0] = path.Join(ScriptDir, script.Name)
			return line, script, nil
		}
		line.CmdLine[0] = data
		return line, nil, nil
	}

	var b strings.Builder
	b.WriteString(line.CmdLine[0])
	for _, f := range c.Files {
		b.WriteByte('\n')
		b.WriteString(f.Data)
		b.WriteString(f.Name)
	}
	line.CmdLine[0] = b.String()
	return line, nil, nil
}
