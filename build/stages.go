package build

import (
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// globalArgEnv returns the values of the ARGs before the first FROM, as
// KEY=value pairs for expanding FROM lines, without recording them.
func globalArgEnv(lex *shell.Lex, options map[string]*string, metaArgs []instructions.ArgCommand) []string {
	args := newBuildArgs(options)
	for _, cmd := range metaArgs {
		for _, kv := range cmd.Args {
			var value *string
			if kv.Value != nil {
				expanded, _, err := lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(toEnv(args.stageValues())))
				if err != nil {
					// The build reports the error when it runs the ARG.
					expanded = *kv.Value
				}
				value = &expanded
			}
			args.declare(kv.Key, value, true)
		}
	}
	return args.globalEnv()
}

// neededStages marks the stages the last stage depends on through FROM
// and COPY --from, as BuildKit builds only those. A COPY --from whose
// value contains a variable may name any earlier stage, so all of them
// count as needed.
//
// NOTE: a COPY --from in an ONBUILD trigger of a base image is not seen
// here, so the stage it names is built only if something else needs it.
func neededStages(stages []instructions.Stage, lex *shell.Lex, globalEnv []string) []bool {
	needed := make([]bool, len(stages))
	if len(stages) == 0 {
		return needed
	}
	index := map[string]int{}
	for i, s := range stages {
		if s.Name != "" {
			if _, seen := index[strings.ToLower(s.Name)]; !seen {
				index[strings.ToLower(s.Name)] = i
			}
		}
	}
	envs := shell.EnvsFromSlice(globalEnv)
	// earlier returns the stage before i that ref names, or -1.
	earlier := func(ref string, i int) int {
		if j, ok := index[strings.ToLower(ref)]; ok && j < i {
			return j
		}
		return -1
	}

	needed[len(stages)-1] = true
	for i := len(stages) - 1; i >= 0; i-- {
		if !needed[i] {
			continue
		}
		base, _, err := lex.ProcessWord(stages[i].BaseName, envs)
		if err != nil {
			base = stages[i].BaseName
		}
		if j := earlier(base, i); j >= 0 {
			needed[j] = true
		}
		for _, cmd := range stages[i].Commands {
			copyCmd, ok := cmd.(*instructions.CopyCommand)
			if !ok || copyCmd.From == "" {
				continue
			}
			from := copyCmd.From
			if strings.Contains(from, "$") {
				for j := range i {
					needed[j] = true
				}
				continue
			}
			if n, err := strconv.Atoi(from); err == nil {
				if n >= 0 && n < i {
					needed[n] = true
				}
				continue
			}
			if j := earlier(from, i); j >= 0 {
				needed[j] = true
			}
		}
	}
	return needed
}

// skipStage records a stage the target does not need. Its ARG names count
// as used, so that build arguments meant for it raise no warning.
func (r *buildRun) skipStage(s *instructions.Stage) {
	for _, cmd := range s.Commands {
		if arg, ok := cmd.(*instructions.ArgCommand); ok {
			for _, kv := range arg.Args {
				r.args.used[kv.Key] = true
			}
		}
	}
	r.stages = append(r.stages, builtStage{name: strings.ToLower(s.Name), skipped: true})
}
