// Package volume is the store of local volumes: directories under
// <data-root>/volumes/<name>/_data with their metadata beside them in
// volume.json, as Docker's local driver lays them out. A volume created
// with the local driver's type, device and o options is mounted on its
// _data directory while a container uses it.
package volume

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berth-engine/berth/internal/atomicfile"
)

// LocalDriver is the only volume driver berth has.
const LocalDriver = "local"

// AnonymousLabel marks volumes created without a name, as Docker Engine
// 23 and later label them. Prune removes only these unless asked for all.
const AnonymousLabel = "com.docker.volume.anonymous"

// validName is Docker's rule for volume names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Volume is the metadata of one volume.
type Volume struct {
	Name      string
	Driver    string
	CreatedAt time.Time
	Labels    map[string]string `json:",omitempty"`
	// Options are the local driver's options: type, device and o.
	Options map[string]string `json:",omitempty"`
}

// Anonymous reports whether v was created without a name.
func (v Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

// entry is a volume and its users.
type entry struct {
	Volume
	users  map[string]bool // IDs of the containers that reference the volume
	mounts map[string]bool // IDs of the running containers that mount it
}

// Store keeps the volumes under one directory. Its methods are safe for
// concurrent use.
type Store struct {
	root string

	mu      sync.Mutex
	volumes map[string]*entry
}

// New opens the store in root, creating root if needed. A directory
// without volume.json, such as one a crash left between creating it and
// writing its metadata, is loaded as a plain local volume.
func New(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o701); err != nil {
		return nil, err
	}
	s := &Store{root: root, volumes: map[string]*entry{}}
	dirs, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() || !validName.MatchString(d.Name()) {
			continue
		}
		v, err := s.load(d.Name())
		if err != nil {
			return nil, err
		}
		s.volumes[v.Name] = &entry{Volume: v, users: map[string]bool{}, mounts: map[string]bool{}}
	}
	return s, nil
}

func (s *Store) load(name string) (Volume, error) {
	dir := filepath.Join(s.root, name)
	data, err := os.ReadFile(filepath.Join(dir, "volume.json"))
	if errors.Is(err, fs.ErrNotExist) {
		v := Volume{Name: name, Driver: LocalDriver}
		if fi, statErr := os.Stat(dir); statErr == nil {
			v.CreatedAt = fi.ModTime().UTC()
		}
		return v, os.MkdirAll(filepath.Join(dir, "_data"), 0o755)
	}
	if err != nil {
		return Volume{}, err
	}
	var v Volume
	if err := json.Unmarshal(data, &v); err != nil {
		return Volume{}, fmt.Errorf("read metadata of volume %s: %w", name, err)
	}
	v.Name = name
	if v.Driver == "" {
		v.Driver = LocalDriver
	}
	return v, nil
}

// Path returns the directory containers see of volume name.
func (s *Store) Path(name string) string {
	return filepath.Join(s.root, name, "_data")
}

// Create creates a volume, or returns the existing one of that name. An
// empty name creates an anonymous volume with a random 64-hex name.
func (s *Store) Create(name, driver string, labels, options map[string]string) (Volume, error) {
	v, _, err := s.create(name, driver, labels, options, "")
	return v, err
}

// CreateForUser is Create that also records container id as a user of
// the volume, in one step, so that no prune or remove can delete the
// volume in between. created reports whether the volume is new.
func (s *Store) CreateForUser(id, name, driver string, labels, options map[string]string) (v Volume, created bool, err error) {
	return s.create(name, driver, labels, options, id)
}

func (s *Store) create(name, driver string, labels, options map[string]string, user string) (Volume, bool, error) {
	if driver == "" {
		driver = LocalDriver
	}
	if driver != LocalDriver {
		return Volume{}, false, fmt.Errorf("error looking up volume plugin %s: plugin %q not found: %w",
			driver, driver, errdefs.ErrNotFound)
	}
	if err := checkOptions(options); err != nil {
		return Volume{}, false, err
	}
	if name == "" {
		name = randomName()
		labels = withLabel(labels, AnonymousLabel)
	}
	if !validName.MatchString(name) {
		return Volume{}, false, fmt.Errorf("create %s: %q includes invalid characters for a local volume name, "+
			"only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path: %w",
			name, name, errdefs.ErrInvalidArgument)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.volumes[name]; ok {
		if user != "" {
			e.users[user] = true
		}
		return e.Volume, false, nil
	}
	v := Volume{Name: name, Driver: driver, CreatedAt: time.Now().UTC(), Labels: labels, Options: options}
	dir := filepath.Join(s.root, name)
	if err := os.MkdirAll(filepath.Join(dir, "_data"), 0o755); err != nil {
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, "volume.json"), v, 0o600); err != nil {
		os.RemoveAll(dir)
		return Volume{}, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	e := &entry{Volume: v, users: map[string]bool{}, mounts: map[string]bool{}}
	if user != "" {
		e.users[user] = true
	}
	s.volumes[name] = e
	return v, true, nil
}

func withLabel(labels map[string]string, key string) map[string]string {
	out := map[string]string{key: ""}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

func randomName() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// checkOptions accepts the local driver's options, as Docker's does.
func checkOptions(options map[string]string) error {
	for k := range options {
		switch k {
		case "type", "device", "o":
		default:
			return fmt.Errorf("invalid option: %q: %w", k, errdefs.ErrInvalidArgument)
		}
	}
	if len(options) > 0 && options["type"] == "" && options["device"] == "" {
		return fmt.Errorf("missing required option: \"type\" or \"device\": %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

func errNoSuchVolume(name string) error {
	return fmt.Errorf("get %s: no such volume: %w", name, errdefs.ErrNotFound)
}

// Get returns volume name.
func (s *Store) Get(name string) (Volume, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok {
		return Volume{}, errNoSuchVolume(name)
	}
	return e.Volume, nil
}

// List returns every volume, sorted by name.
func (s *Store) List() []Volume {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Volume, 0, len(s.volumes))
	for _, e := range s.volumes {
		out = append(out, e.Volume)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AddUser records that container id references volume name, which keeps
// the volume from being removed.
func (s *Store) AddUser(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok {
		return errNoSuchVolume(name)
	}
	e.users[id] = true
	return nil
}

// RemoveUser drops the reference of container id on volume name.
func (s *Store) RemoveUser(name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.volumes[name]; ok {
		delete(e.users, id)
	}
}

// Users returns the IDs of the containers that reference volume name.
func (s *Store) Users(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok {
		return nil
	}
	users := make([]string, 0, len(e.users))
	for id := range e.users {
		users = append(users, id)
	}
	slices.Sort(users)
	return users
}

// Remove deletes volume name and its data. A volume that a container
// references is a conflict, with force too, as in Docker. force only
// makes a missing volume no error.
func (s *Store) Remove(name string, force bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok {
		if force {
			return nil
		}
		return errNoSuchVolume(name)
	}
	if len(e.users) > 0 {
		users := make([]string, 0, len(e.users))
		for id := range e.users {
			users = append(users, id)
		}
		slices.Sort(users)
		return fmt.Errorf("remove %s: volume is in use - [%s]: %w", name, strings.Join(users, ", "), errdefs.ErrConflict)
	}
	dir := filepath.Join(s.root, name)
	if isMountPoint(filepath.Join(dir, "_data")) {
		if err := unix.Unmount(filepath.Join(dir, "_data"), unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("remove %s: unmount: %w", name, err)
		}
	}
	// The metadata goes first, so that a crash in the middle leaves no
	// half-deleted volume that looks complete.
	if err := os.Remove(filepath.Join(dir, "volume.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	delete(s.volumes, name)
	return nil
}

// Mount makes volume name ready for container id, which starts, and
// returns its path. A volume with a device is mounted on its first use.
// Mounting again for the same container changes nothing.
func (s *Store) Mount(name, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok {
		return "", errNoSuchVolume(name)
	}
	path := s.Path(name)
	if len(e.mounts) == 0 && hasDevice(e.Options) && !isMountPoint(path) {
		if err := mountDevice(e.Options, path); err != nil {
			return "", fmt.Errorf("mount volume %s: %w", name, err)
		}
	}
	e.mounts[id] = true
	return path, nil
}

// Unmount undoes the Mount for container id. A volume with a device is
// unmounted when no running container uses it any more.
func (s *Store) Unmount(name, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.volumes[name]
	if !ok || !e.mounts[id] {
		return nil
	}
	delete(e.mounts, id)
	if len(e.mounts) > 0 || !hasDevice(e.Options) {
		return nil
	}
	path := s.Path(name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmount volume %s: %w", name, err)
	}
	return nil
}

// UnmountIdle unmounts the devices of volumes that no running container
// uses, which a daemon killed while containers ran can leave mounted.
func (s *Store) UnmountIdle() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, e := range s.volumes {
		path := s.Path(name)
		if len(e.mounts) == 0 && hasDevice(e.Options) && isMountPoint(path) {
			if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
				errs = append(errs, fmt.Errorf("unmount idle volume %s: %w", name, err))
			}
		}
	}
	return errs
}

// Size returns the bytes of the regular files in volume name.
func (s *Store) Size(name string) int64 {
	var size int64
	filepath.WalkDir(s.Path(name), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size
}

// IsEmpty reports whether volume name contains no files.
func (s *Store) IsEmpty(name string) bool {
	entries, err := os.ReadDir(s.Path(name))
	return err == nil && len(entries) == 0
}

func hasDevice(options map[string]string) bool {
	return options["type"] != "" || options["device"] != ""
}

// isMountPoint reports whether path is a mount point of this process's
// mount namespace, from /proc/self/mountinfo.
func isMountPoint(path string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && unescapeMountInfo(fields[4]) == path {
			return true
		}
	}
	return false
}

// unescapeMountInfo decodes the octal escapes (\040 for a space) that
// mountinfo uses in paths.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
