package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// RequiresMinArgs rejects fewer than minimum positional arguments.
func RequiresMinArgs(minimum int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= minimum {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d %s", minimum, plural(minimum)))
	}
}

// RequiresMaxArgs rejects more than maximum positional arguments.
func RequiresMaxArgs(maximum int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= maximum {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at most %d %s", maximum, plural(maximum)))
	}
}

// RequiresRangeArgs rejects fewer than minimum or more than maximum
// positional arguments.
func RequiresRangeArgs(minimum, maximum int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= minimum && len(args) <= maximum {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %d %s", minimum, maximum, plural(maximum)))
	}
}

// ExactArgs rejects any number of positional arguments other than n.
func ExactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires %d %s", n, plural(n)))
	}
}

// NoArgs rejects any positional argument.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

func argsError(cmd *cobra.Command, requirement string) error {
	return fmt.Errorf("%q %s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s",
		cmd.CommandPath(), requirement, cmd.CommandPath(), cmd.UseLine(), cmd.Short)
}

func plural(n int) string {
	if n == 1 {
		return "argument"
	}
	return "arguments"
}
