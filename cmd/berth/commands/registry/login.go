// Package registry implements the registry commands of the berth client:
// login and logout. Credentials live in Docker's config.json, so berth and
// Docker's CLI share them, including credential helpers named there.
package registry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/cli/cli/config/types"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-engine/berth/cmd/berth/commands/cli"
	"github.com/berth-engine/berth/distribution"
)

type loginOptions struct {
	username      string
	password      string
	passwordStdin bool
}

// NewLoginCommand returns "login": check credentials against a registry and
// store them.
func NewLoginCommand(c *cli.CLI) *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Long: "Authenticate to a registry.\n" +
			"Defaults to Docker Hub if no server is specified.",
		Args: cli.RequiresMaxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var server string
			if len(args) > 0 {
				server = args[0]
			}
			return runLogin(cmd.Context(), c, &opts, server)
		},
	}
	flags := cmd.Flags()
	flags.StringVarP(&opts.username, "username", "u", "", "Username")
	flags.StringVarP(&opts.password, "password", "p", "", "Password or Personal Access Token (PAT)")
	flags.BoolVar(&opts.passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

func runLogin(ctx context.Context, c *cli.CLI, opts *loginOptions, server string) error {
	if opts.password != "" {
		fmt.Fprintln(c.Err(), "WARNING! Using --password via the CLI is insecure. Use --password-stdin.")
		if opts.passwordStdin {
			return errors.New("--password and --password-stdin are mutually exclusive")
		}
	}
	if opts.passwordStdin {
		if opts.username == "" {
			return errors.New("must provide --username with --password-stdin")
		}
		data, err := io.ReadAll(c.In())
		if err != nil {
			return err
		}
		opts.password = strings.TrimRight(string(data), "\r\n")
	}

	key := cli.AuthKey(distribution.RegistryHost(server))
	cf, err := c.ConfigFile()
	if err != nil {
		return err
	}
	stored, err := cf.GetAuthConfig(key)
	if err != nil {
		return fmt.Errorf("read credentials for %s: %w", key, err)
	}
	if err := promptCredentials(c, opts, stored.Username, key); err != nil {
		return err
	}
	if opts.username == "" || opts.password == "" {
		return errors.New("username and password are required: use --username and --password-stdin")
	}

	apiClient, err := c.Client(ctx)
	if err != nil {
		return err
	}
	if _, err := apiClient.RegistryLogin(ctx, client.RegistryLoginOptions{
		Username:      opts.username,
		Password:      opts.password,
		ServerAddress: key,
	}); err != nil {
		return err
	}

	store := cf.GetCredentialsStore(key)
	if err := store.Store(types.AuthConfig{Username: opts.username, Password: opts.password, ServerAddress: key}); err != nil {
		return fmt.Errorf("store credentials for %s in %s: %w", key, cf.GetFilename(), err)
	}
	fmt.Fprintln(c.Out(), "Login Succeeded")
	return nil
}

// promptCredentials prompts for a missing username and password when
// standard input is a terminal. The password is read without echo.
func promptCredentials(c *cli.CLI, opts *loginOptions, storedUser, server string) error {
	fd, isTerminal := cli.TerminalFd(c.In())
	if !isTerminal || (opts.username != "" && opts.password != "") {
		return nil
	}
	if opts.username == "" {
		if storedUser != "" {
			fmt.Fprintf(c.Out(), "Username (%s): ", storedUser)
		} else {
			fmt.Fprint(c.Out(), "Username: ")
		}
		line, err := bufio.NewReader(c.In()).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read username for %s: %w", server, err)
		}
		opts.username = strings.TrimSpace(line)
		if opts.username == "" {
			opts.username = storedUser
		}
	}
	if opts.password == "" {
		fmt.Fprint(c.Out(), "Password: ")
		password, err := term.ReadPassword(fd)
		fmt.Fprintln(c.Out())
		if err != nil {
			return fmt.Errorf("read password for %s: %w", server, err)
		}
		opts.password = string(password)
	}
	return nil
}

// NewLogoutCommand returns "logout": remove stored credentials.
func NewLogoutCommand(c *cli.CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Long: "Log out from a registry.\n" +
			"If no server is specified, the default is defined by the daemon.",
		Args: cli.RequiresMaxArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var server string
			if len(args) > 0 {
				server = args[0]
			}
			key := cli.AuthKey(distribution.RegistryHost(server))
			cf, err := c.ConfigFile()
			if err != nil {
				return err
			}
			stored, err := cf.GetAuthConfig(key)
			if err != nil {
				return fmt.Errorf("read credentials for %s: %w", key, err)
			}
			if stored.Username == "" && stored.IdentityToken == "" {
				fmt.Fprintf(c.Out(), "Not logged in to %s\n", key)
				return nil
			}
			fmt.Fprintf(c.Out(), "Removing login credentials for %s\n", key)
			if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
				return fmt.Errorf("remove credentials for %s from %s: %w", key, cf.GetFilename(), err)
			}
			return nil
		},
	}
}
