package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strings"

	"github.com/spf13/cobra"
)

// configCmd is `mesh config`: the configuration of `mesh start`.
func configCmd() *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "config", Short: "Show the configuration mesh start would run with"})
	cmd.AddCommand(configPrintCmd())
	return cmd
}

// configPrintCmd is `mesh config print`: the same flags, environment and
// --config file as `mesh start`, printed as the YAML --config reads.
func configPrintCmd() *cobra.Command {
	var sc *startConfig
	var sources bool
	cmd := &cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration of mesh start with these flags, env and --config, as YAML",
		Long: `print takes the flags of mesh start, reads the environment and the --config file as it does,
checks the result, and prints every option as YAML that --config accepts back. Tokens are never
printed: a token read from a file shows the file's name; one from the environment shows <hidden>.
With --sources each line says where its value came from: flag, env, file or default.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := sc.resolve(os.Getenv); err != nil {
				return err
			}
			return sc.print(cmd.OutOrStdout(), sources)
		},
	}
	sc = startFlags(cmd.Flags())
	cmd.Flags().BoolVar(&sources, "sources", false, "add a comment to each line saying where its value came from: flag, env, file or default")
	return cmd
}

// print writes the configuration, checked and with its derived defaults
// (home, name, plugin cache) filled, as YAML; sources adds each value's
// layer as a comment.
func (sc *startConfig) print(w io.Writer, sources bool) error {
	cfg := sc.cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	cv := reflect.ValueOf(&cfg).Elem()
	for _, o := range startOptions {
		comment := ""
		if sources {
			comment = "  # " + sc.sources[o.name]
		}
		v := cv.FieldByName(o.field)
		if hidden, ok := hideUserinfo(v); ok {
			v, comment = reflect.ValueOf(hidden), comment+"  # credentials in the URL hidden"
		}
		line := fmt.Sprintf("%s: %s", o.key(), (&fieldValue{v: v}).yaml())
		if o.secret {
			line = sc.secretLine(o)
		}
		if _, err := fmt.Fprintln(w, line+comment); err != nil {
			return err
		}
	}
	return nil
}

// secretLine is a secret as print shows it: the file holding it (a name,
// not the token), or <hidden> in a comment when the environment gives it.
func (sc *startConfig) secretLine(o option) string {
	if sc.sources[o.name] == fromEnv {
		return fmt.Sprintf("# %s: <hidden> (the token is set by env %s)", o.key(), o.env())
	}
	return fmt.Sprintf("%s: %s", o.key(), (&fieldValue{v: reflect.ValueOf(sc.files[o.name])}).yaml())
}

// hideUserinfo is v, a string option, with the user name and password of
// every URL in it (a comma-separated list, as --nats-url takes) replaced by
// ***; ok says whether there were any. nats://user:pass@host and
// nats://token@host carry credentials that print must not show.
func hideUserinfo(v reflect.Value) (_ string, ok bool) {
	if v.Kind() != reflect.String {
		return "", false
	}
	parts := strings.Split(v.String(), ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i], ok = strings.Replace(u.String(), "://", "://***@", 1), true
		}
	}
	return strings.Join(parts, ","), ok
}
