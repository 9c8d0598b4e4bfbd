package engine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"

	"github.com/containerd/errdefs"
)

// validName is the pattern Docker accepts for container names.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

var (
	nameAdjectives = []string{
		"amber", "brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly",
		"keen", "lively", "lucid", "merry", "nimble", "quiet", "quirky", "rapid", "serene",
		"sharp", "steady", "sunny", "swift", "tender", "vivid", "witty", "zealous",
	}
	nameNouns = []string{
		"albatross", "badger", "beacon", "canal", "delta", "ferry", "frigate", "galley",
		"harbor", "heron", "jetty", "keel", "lagoon", "lighthouse", "mooring", "narwhal",
		"otter", "pelican", "pier", "quay", "schooner", "sextant", "tugboat", "wharf",
	}
)

// newID returns a random 64-hex-digit container ID.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// randomName returns an "adjective_noun" name; taken reports names in use.
func randomName(taken func(string) bool) string {
	for i := 0; ; i++ {
		name := pick(nameAdjectives) + "_" + pick(nameNouns)
		if i > 10 {
			name += fmt.Sprint(i)
		}
		if !taken(name) {
			return name
		}
	}
}

func pick(words []string) string {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		panic(fmt.Sprintf("read random bytes: %v", err))
	}
	return words[n.Int64()]
}

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed: %w",
			name, errdefs.ErrInvalidArgument)
	}
	return nil
}
