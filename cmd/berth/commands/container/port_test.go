package container

import (
	"slices"
	"testing"

	"gotest.tools/v3/assert"
)

func TestCompareNaturalSortsPorts(t *testing.T) {
	lines := []string{
		"7000/tcp -> 0.0.0.0:60109",
		"80/udp -> 0.0.0.0:18300",
		"80/tcp -> 127.0.0.1:18100",
		"9/tcp -> 0.0.0.0:9",
		"80/tcp -> 0.0.0.0:18080",
		"80/tcp -> 0.0.0.0:080",
	}
	slices.SortFunc(lines, compareNatural)
	assert.DeepEqual(t, lines, []string{
		"9/tcp -> 0.0.0.0:9",
		"80/tcp -> 0.0.0.0:080",
		"80/tcp -> 0.0.0.0:18080",
		"80/tcp -> 127.0.0.1:18100",
		"80/udp -> 0.0.0.0:18300",
		"7000/tcp -> 0.0.0.0:60109",
	})
}
