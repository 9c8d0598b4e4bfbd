package integration

import (
	"os"
	"os/exec"
	"testing"

	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"

	"github.com/berth-engine/berth/internal/testutil"
)

// autostartScript runs in private mount and network namespaces, so that the
// default socket, data root and bridge it uses belong to it alone. The CLI
// finds no daemon on the default socket and starts one.
const autostartScript = `
set -e
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/lib
ip link set lo up
trap 'kill $(cat /run/berth/berth.pid) 2>/dev/null; sleep 1' EXIT
"$BERTH" version --format '{{.Server.Version}}'
"$BERTH" import -c 'CMD ["sh"]' "$BUSYBOX_TAR" busybox:latest >/dev/null
"$BERTH" run --rm busybox echo autostarted
test -s /var/lib/berth/daemon.log
`

func TestCLIStartsDaemonOnDefaultSocket(t *testing.T) {
	testutil.Requires(t, testutil.Root, testutil.Overlay, testutil.Runc, testutil.Busybox)
	assert.NilError(t, setupErr)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is needed to give the default socket its own namespaces")
	}

	cmd := exec.Command("unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", autostartScript)
	cmd.Env = append(os.Environ(), "BERTH="+berthBinary, "BUSYBOX_TAR="+busyboxTar,
		"BERTH_HOST=", "DOCKER_HOST=")
	out, err := cmd.CombinedOutput()
	assert.NilError(t, err, string(out))
	assert.Check(t, is.Contains(string(out), "autostarted\n"))
}
