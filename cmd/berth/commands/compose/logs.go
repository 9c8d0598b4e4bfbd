package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
)

type logOptions struct {
	follow     bool
	tail       string
	timestamps bool
	noColor    bool
	noPrefix   bool
	since      string
	until      string
}

func newLogsCommand(c *cli.CLI, flags *projectFlags) *cobra.Command {
	var opts logOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "View output from containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			s, containers, err := serviceContainers(ctx, c, flags, args, true, false)
			if err != nil {
				return err
			}
			return s.streamLogs(ctx, containers, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.follow, "follow", "f", false, "Follow log output")
	f.StringVarP(&opts.tail, "tail", "n", "all", "Number of lines to show from the end of the logs for each container")
	f.BoolVarP(&opts.timestamps, "timestamps", "t", false, "Show timestamps")
	f.BoolVar(&opts.noColor, "no-color", false, "Produce monochrome output")
	f.BoolVar(&opts.noPrefix, "no-log-prefix", false, "Don't print prefix in logs")
	f.StringVar(&opts.since, "since", "", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	f.StringVar(&opts.until, "until", "", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)")
	return cmd
}

// colors are the ANSI foreground colours given to services in turn: cyan,
// yellow, green, magenta, blue, then their bright forms.
var colors = []string{"36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"}

// streamLogs writes the logs of containers to the output stream, each line
// prefixed with the container's name padded to a common width. Prefixes
// are coloured when the output is a terminal and noColor is false.
func (s *session) streamLogs(ctx context.Context, containers []projectContainer, opts logOptions) error {
	out := &lockedWriter{w: s.cli.Out()}
	colored := !opts.noColor && cli.IsTerminal(s.cli.Out())

	width := 0
	for _, pc := range containers {
		if n := len(pc.Name()); n > width {
			width = n
		}
	}
	serviceColor := map[string]string{}
	services := make([]string, 0)
	for _, pc := range containers {
		if _, ok := serviceColor[pc.Service]; !ok {
			serviceColor[pc.Service] = ""
			services = append(services, pc.Service)
		}
	}
	sort.Strings(services)
	for i, name := range services {
		serviceColor[name] = colors[i%len(colors)]
	}

	var wg sync.WaitGroup
	errs := make([]error, len(containers))
	for i, pc := range containers {
		prefix := ""
		if !opts.noPrefix {
			prefix = fmt.Sprintf("%-*s | ", width, pc.Name())
			if colored {
				prefix = "\x1b[" + serviceColor[pc.Service] + "m" + prefix + "\x1b[0m"
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.containerLogs(ctx, pc, prefix, out, opts)
			if errs[i] == nil && opts.follow && ctx.Err() == nil {
				s.reportExit(ctx, pc, out)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

func (s *session) containerLogs(ctx context.Context, pc projectContainer, prefix string, out io.Writer, opts logOptions) error {
	tail := opts.tail
	if tail == "" {
		tail = "all"
	}
	body, err := s.api.ContainerLogs(ctx, pc.ID, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.follow,
		Tail:       tail,
		Timestamps: opts.timestamps,
		Since:      opts.since,
		Until:      opts.until,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer body.Close()

	lines := &prefixWriter{prefix: prefix, out: out}
	defer lines.flush()
	inspect, err := s.api.ContainerInspect(ctx, pc.ID, client.ContainerInspectOptions{})
	if err == nil && inspect.Container.Config != nil && inspect.Container.Config.Tty {
		_, err = io.Copy(lines, body)
	} else {
		_, err = stdcopy.StdCopy(lines, lines, body)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// reportExit prints "NAME exited with code N" when a followed container
// has stopped, as the end of its log stream means.
func (s *session) reportExit(ctx context.Context, pc projectContainer, out io.Writer) {
	result, err := s.api.ContainerInspect(ctx, pc.ID, client.ContainerInspectOptions{})
	if err != nil || result.Container.State == nil || result.Container.State.Running {
		return
	}
	fmt.Fprintf(out, "%s exited with code %d\n", pc.Name(), result.Container.State.ExitCode)
}

// lockedWriter serialises writes of whole lines from several containers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes each complete line with a prefix and keeps a
// partial last line until the rest of it arrives.
type prefixWriter struct {
	prefix  string
	out     io.Writer
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.partial[:i+1]...)
		p.partial = p.partial[i+1:]
		if _, err := p.out.Write(line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

func (p *prefixWriter) flush() {
	if len(p.partial) > 0 {
		_, _ = p.out.Write(append(append([]byte(p.prefix), p.partial...), '\n'))
		p.partial = nil
	}
}
