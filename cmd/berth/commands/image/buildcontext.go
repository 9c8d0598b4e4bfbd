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

// contextFromDir archives dir for a build, leaving out what .dockerignore
// excludes except the Dockerfile and .dockerignore themselves. A Dockerfile
// outside dir is added to the archive under a random name.
func contextFromDir(dir, dockerfile string) (buildContext, error) {
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

	dockerfilePath, err := findDockerfile(contextDir, dockerfile)
	if err != nil {
		return buildContext{}, err
	}

	excludes, err := readDockerignore(contextDir)
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
		keep = append(keep, relDockerfile)
	}
	excludes, err = keepFiles(excludes, keep)
	if err != nil {
		return buildContext{}, err
	}

	body, err := archive.TarWithOptions(contextDir, &archive.TarOptions{
		ExcludePatterns: excludes,
		ChownOpts:       &archive.ChownOpts{UID: 0, GID: 0},
	})
	if err != nil {
		return buildContext{}, fmt.Errorf("archive build context: %w", err)
	}

	if !outside {
		return buildContext{body: body, dockerfile: relDockerfile}, nil
	}
	return addDockerfile(body, dockerfilePath)
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

// readDockerignore returns the patterns of contextDir/.dockerignore, or
// none when the file does not exist.
func readDockerignore(contextDir string) ([]string, error) {
	file, err := os.Open(filepath.Join(contextDir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: %w", err)
	}
	defer file.Close()

	patterns, err := ignorefile.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: read .dockerignore: %w", err)
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

// addDockerfile appends the file at path to the context archive under a
// random hidden name and returns the context naming it.
func addDockerfile(body io.ReadCloser, path string) (buildContext, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		body.Close()
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		body.Close()
		return buildContext{}, fmt.Errorf("unable to prepare context: %w", err)
	}
	name := ".dockerfile." + hex.EncodeToString(suffix)

	modified := archive.ReplaceFileTarWrapper(body, map[string]archive.TarModifierFunc{
		name: func(string, *tar.Header, io.Reader) (*tar.Header, []byte, error) {
			header := &tar.Header{
				Name:     name,
				Typeflag: tar.TypeReg,
				Mode:     0o600,
				Size:     int64(len(content)),
				ModTime:  time.Now(),
			}
			return header, content, nil
		},
	})
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
