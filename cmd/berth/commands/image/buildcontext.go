package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/go-archive"
	"github.com/moby/go-archive/compression"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

const defaultDockerfileName = "Dockerfile"

// buildContext is the tar stream sent to POST /build and the Dockerfile's
// path inside it ("" lets the daemon use "Dockerfile").
type buildContext struct {
	body       io.ReadCloser
	dockerfile string
}

// contextFromDir archives dir for a build, leaving out what the ignore
// file excludes except the Dockerfile and the ignore files themselves. A
// Dockerfile outside dir, or read from stdin for "-f -", is added to the
// archive under a random name.
//
// The ignore file is <Dockerfile>.dockerignore next to the Dockerfile when
// it exists, else dir/.dockerignore, as in Docker.
func contextFromDir(dir, dockerfile string, stdin io.Reader) (buildContext, error) {
	contextDir, err := filepath.Abs(dir)
	if err != nil {
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	info, err := os.Stat(contextDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return buildContext{}, fmt.Errorf("unable to prepare context: path %q not found", dir)
		}
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	if !info.IsDir() {
		return buildContext{}, fmt.Errorf("unable to prepare context: context must be a directory: %s", dir)
	}

	if dockerfile == "-" {
		content, err := io.ReadAll(stdin)
		if err != nil {
			return buildContext{}, fmt.Errorf("unable to prepare context: read Dockerfile from standard input: %w", err)
		}
		excludes, err := readIgnoreFile(filepath.Join(contextDir, ".dockerignore"))
		if err != nil {
			return buildContext{}, err
		}
		body, err := archiveDir(contextDir, excludes, []string{".dockerignore"})
		if err != nil {
			return buildContext{}, err
		}
		return addDockerfile(body, content, nil)
	}

	dockerfilePath, err := findDockerfile(contextDir, dockerfile)
	if err != nil {
		return buildContext{}, err
	}
	specificIgnore, err := readOptionalFile(dockerfilePath + ".dockerignore")
	if err != nil {
		return buildContext{}, err
	}
	var excludes []string
	if specificIgnore != nil {
		excludes, err = parseIgnoreFile(specificIgnore, filepath.Base(dockerfilePath)+".dockerignore")
	} else {
		excludes, err = readIgnoreFile(filepath.Join(contextDir, ".dockerignore"))
	}
	if err != nil {
		return buildContext{}, err
	}

	relDockerfile, err := filepath.Rel(contextDir, dockerfilePath)
	if err != nil {
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	outside := relDockerfile == ".." || strings.HasPrefix(relDockerfile, ".."+string(filepath.Separator))
	relDockerfile = filepath.ToSlash(relDockerfile)

	keep := []string{".dockerignore"}
	if !outside {
		keep = append(keep, relDockerfile, relDockerfile+".dockerignore")
	}
	body, err := archiveDir(contextDir, excludes, keep)
	if err != nil {
		return buildContext{}, err
	}
	if !outside {
		return buildContext{body: body, dockerfile: relDockerfile}, nil
	}
	content, err := os.ReadFile(dockerfilePath)
	if err != nil {
		body.Close()
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	return addDockerfile(body, content, specificIgnore)
}

// archiveDir archives contextDir without the files excludes matches,
// except the names in keep.
func archiveDir(contextDir string, excludes, keep []string) (io.ReadCloser, error) {
	excludes, err := keepFiles(excludes, keep)
	if err != nil {
		return nil, err
	}
	body, err := archive.TarWithOptions(contextDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return nil, fmt.Errorf("archive build context: %w", err)
	}
	return body, nil
}

// findDockerfile returns the absolute path of the Dockerfile. Without -f it
// is contextDir/Dockerfile (or contextDir/dockerfile). A relative -f is
// looked up from the working directory, as BuildKit's docker build does,
// and then inside the context, as Docker's classic builder did.
func findDockerfile(contextDir, dockerfile string) (string, error) {
	var candidates []string
	switch {
	case dockerfile == "":
		candidates = []string{
			filepath.Join(contextDir, defaultDockerfileName),
			filepath.Join(contextDir, strings.ToLower(defaultDockerfileName)),
		}
	case filepath.IsAbs(dockerfile):
		candidates = []string{dockerfile}
	default:
		fromWorkdir, err := filepath.Abs(dockerfile)
		if err != nil {
			return "", fmt.Errorf("unable to prepare context: %w", err)
		}
		candidates = []string{fromWorkdir, filepath.Join(contextDir, dockerfile)}
	}

	for _, candidate := range candidates {
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() {
			return candidate, nil
		}
	}
	name := dockerfile
	if name == "" {
		name = candidates[0]
	}
	return "", fmt.Errorf("unable to prepare context: cannot locate specified Dockerfile: %s", name)
}

// readIgnoreFile returns the patterns of the ignore file at path, or none
// when it does not exist.
func readIgnoreFile(path string) ([]string, error) {
	data, err := readOptionalFile(path)
	if err != nil || data == nil {
		return nil, err
	}
	return parseIgnoreFile(data, filepath.Base(path))
}

// readOptionalFile returns the content of the file at path, or nil when it
// does not exist.
func readOptionalFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	return data, nil
}

func parseIgnoreFile(data []byte, name string) ([]string, error) {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: read %s: %w", name, err)
	}
	return patterns, nil
}

// keepFiles adds exceptions to excludes for each name it would exclude.
func keepFiles(excludes, names []string) ([]string, error) {
	if len(excludes) == 0 {
		return excludes, nil
	}
	matcher, err := patternmatcher.New(excludes)
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: invalid .dockerignore: %w", err)
	}
	for _, name := range names {
		excluded, err := matcher.MatchesOrParentMatches(name)
		if err != nil {
			return nil, fmt.Errorf("unable to prepare context: invalid .dockerignore: %w", err)
		}
		if excluded {
			excludes = append(excludes, "!"+name)
		}
	}
	return excludes, nil
}

// addDockerfile appends content to the context archive under a random
// hidden name and returns the context naming it. A non-nil ignore is added
// as <name>.dockerignore, so that the daemon applies the same patterns.
func addDockerfile(body io.ReadCloser, content, ignore []byte) (buildContext, error) {
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		body.Close()
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	name := ".dockerfile." + hex.EncodeToString(suffix)

	files := map[string][]byte{name: content}
	if ignore != nil {
		files[name+".dockerignore"] = ignore
	}
	modifiers := map[string]archive.TarModifierFunc{}
	for fileName, data := range files {
		modifiers[fileName] = func(string, *tar.Header, io.Reader) (*tar.Header, []byte, error) {
			header := &tar.Header{
				Name:     fileName,
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				Size:     int64(len(data)),
				ModTime:  time.Now(),
			}
			return header, data, nil
		}
	}
	modified := archive.ReplaceFileTarWrapper(body, modifiers)
	return buildContext{body: modified, dockerfile: name}, nil
}

// contextFromReader reads a build context from r. A tar archive, possibly
// compressed, is sent as it is. Anything else is taken as the Dockerfile of
// an otherwise empty context.
func contextFromReader(r io.Reader, dockerfile string) (buildContext, error) {
	buffered := bufio.NewReaderSize(r, 4096)
	head, err := buffered.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return buildContext{}, fmt.Errorf("unable to prepare context: read standard input: %w", err)
	}

	if compression.Detect(head) != compression.None || isTarHeader(head) {
		return buildContext{body: io.NopCloser(buffered), dockerfile: dockerfile}, nil
	}

	content, err := io.ReadAll(buffered)
	if err != nil {
		return buildContext{}, fmt.Errorf("unable to prepare context: read standard input: %w", err)
	}
	var archiveBuf bytes.Buffer
	writer := tar.NewWriter(&archiveBuf)
	header := &tar.Header{
		Name:     defaultDockerfileName,
		Typeflag: tar.TypeReg,
		Mode:     0o600,
		Size:     int64(len(content)),
		ModTime:  time.Now(),
	}
	if err := writer.WriteHeader(header); err != nil {
		return buildContext{}, err
	}
	if _, err := writer.Write(content); err != nil {
		return buildContext{}, err
	}
	if err := writer.Close(); err != nil {
		return buildContext{}, err
	}
	return buildContext{body: io.NopCloser(&archiveBuf), dockerfile: defaultDockerfileName}, nil
}

// isTarHeader reports whether head starts with a tar header.
func isTarHeader(head []byte) bool {
	if len(head) < 512 {
		return false
	}
	_, err := tar.NewReader(bytes.NewReader(head)).Next()
	return err == nil
}
