package engine

import (
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"gotest.tools/v3/assert"
	is "gotest.tools/v3/assert/cmp"
)

func TestParsePsOutput(t *testing.T) {
	tests := []struct {
		name string
		out  string
		pids []int
		want container.TopResponse
	}{
		{
			name: "ps -ef",
			out: "UID          PID    PPID  C STIME TTY          TIME CMD\n" +
				"root           1       0  0 10:00 ?        00:00:01 /sbin/init\n" +
				"root        4242    4200  0 10:01 ?        00:00:00 sh -c sleep  60\n" +
				"root        4243    4242  0 10:01 ?        00:00:00 sleep 60\n",
			pids: []int{4242, 4243},
			want: container.TopResponse{
				Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
				Processes: [][]string{
					{"root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sh -c sleep 60"},
					{"root", "4243", "4242", "0", "10:01", "?", "00:00:00", "sleep 60"},
				},
			},
		},
		{
			name: "thread lines follow their process",
			out: "  PID TTY      STAT   TIME COMMAND\n" +
				"    1 ?        -      0:01 /sbin/init\n" +
				"    - -        Ss     0:01 -\n" +
				" 4242 ?        -      0:00 app\n" +
				"    - -        Sl     0:00 -\n" +
				"    - -        Sl     0:00 -\n",
			pids: []int{4242},
			want: container.TopResponse{
				Titles: []string{"PID", "TTY", "STAT", "TIME", "COMMAND"},
				Processes: [][]string{
					{"4242", "?", "-", "0:00", "app"},
					{"-", "-", "Sl", "0:00", "-"},
					{"-", "-", "Sl", "0:00", "-"},
				},
			},
		},
		{
			name: "no process of the container",
			out:  "PID CMD\n1 init\n",
			pids: []int{7},
			want: container.TopResponse{Titles: []string{"PID", "CMD"}, Processes: [][]string{}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePsOutput([]byte(tc.out), tc.pids)
			assert.NilError(t, err)
			assert.Check(t, is.DeepEqual(got, tc.want))
		})
	}
}

func TestParsePsOutputErrors(t *testing.T) {
	_, err := parsePsOutput([]byte("USER COMMAND\nroot init\n"), []int{1})
	assert.Check(t, is.ErrorContains(err, "Couldn't find PID field in ps output"))
	assert.Check(t, errdefs.IsInvalidArgument(err))

	_, err = parsePsOutput([]byte("PID CMD\nabc init\n"), []int{1})
	assert.Check(t, is.ErrorContains(err, "Unexpected pid 'abc'"))
}

func TestCheckPsArgs(t *testing.T) {
	assert.Check(t, checkPsArgs("-ef"))
	assert.Check(t, checkPsArgs("-o pid=PID,comm"))
	err := checkPsArgs("-o user=PIDX,pid")
	assert.Check(t, is.Error(err, `specifying "user=PIDX,pid" is not allowed: invalid argument`))
	assert.Check(t, errdefs.IsInvalidArgument(err))
}
