package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/api"
	"github.com/ppcmesh/mesh/host/registry"
)

// registryCmd is `mesh registry …`: the services registered with a node.
func registryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "registry",
		Short: "Register, list and remove the services a node routes to on its port",
		Long: `A registration tells the node to proxy the requests for a path (an HTTP path, or a
gRPC /pkg.Service/ or /pkg.Service/Method) to upstream instances. It lasts its
validity (default 5m): register again before then to renew it (a heartbeat).

  mesh registry register --name model --urn '/predict/*' --address 10.0.0.5:8080 --ttl 1m
  mesh registry register --name model --urn /pkg.Model/ --proto grpc --address 10.0.0.5:9090
  mesh registry register -f reg.json          # the older Mesh's JSON, as curl sends it
  mesh registry list
  mesh registry remove --name model --instance-id 10.0.0.5:8080

A service is reachable by partner nodes only when exposed (--exposed, optionally
--partners node-b,node-c).`,
	}
	groupCmd(cmd)
	c := controlFlags(cmd)
	cmd.AddCommand(registryRegisterCmd(c), registryListCmd(c), registryRemoveCmd(c))
	return cmd
}

// registerFlags are the flags of `mesh registry register`.
type registerFlags struct {
	file, name, urn, address, instance, proto, kind string
	partners                                        string
	attrs                                           []string
	ttl                                             time.Duration
	exposed                                         bool
}

func registryRegisterCmd(c *control) *cobra.Command {
	var in registerFlags
	cmd := &cobra.Command{
		Use:   "register (-f FILE | --name NAME --urn PATH --address HOST:PORT [flags])",
		Short: "Register (or renew) a service: the node proxies its path to the address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := in.body(cmd.InOrStdin(), time.Now())
			if err != nil {
				return err
			}
			var st registry.Stored
			if err := c.call(cmd.Context(), "/v1/interconn/registry/register", body, &st); err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), st, func(w io.Writer) {
				fmt.Fprintf(w, "registered %s (instance %s, %d services) until %s\n", st.Name, st.InstanceID,
					len(st.Content.Services), st.Expires.UTC().Format(time.RFC3339))
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&in.file, "file", "f", "", "the registration's JSON (- for stdin); the other flags then do not apply")
	f.StringVar(&in.name, "name", "", "the registration's name (the application)")
	f.StringVar(&in.urn, "urn", "", "the path: /a/b exact, /a/b/* a prefix; gRPC /pkg.Service/ or /pkg.Service/Method")
	f.StringVar(&in.address, "address", "", "HOST:PORT of the upstream")
	f.StringVar(&in.instance, "instance-id", "", "the instance's id (default: --address)")
	f.StringVar(&in.proto, "proto", registry.ProtoHTTP, "http or grpc: what callers send")
	f.StringVar(&in.kind, "kind", "", "service kind: Restful is an HTTP/1.1 upstream, anything else h2c (default Restful for http, grpc for grpc)")
	f.DurationVar(&in.ttl, "ttl", registry.DefaultValidity, "how long the registration lasts unless renewed: 1ms to 24h; below 30m it is sent as a validity, from 30m an absolute expiry computed with this machine's clock")
	f.BoolVar(&in.exposed, "exposed", false, "partner nodes may call it")
	f.StringVar(&in.partners, "partners", "", "with --exposed: only these partner node ids (comma-separated)")
	f.StringArrayVar(&in.attrs, "attr", nil, "KEY=VALUE service attribute (balance, health_path, health_interval, health_threshold; repeatable)")
	return cmd
}

// body is the register call's body: the file as it is, or the flags'.
func (in registerFlags) body(stdin io.Reader, now time.Time) (any, error) {
	if in.file != "" {
		return readRegistration(in.file, stdin)
	}
	if in.name == "" || in.urn == "" || in.address == "" {
		return nil, fmt.Errorf("register needs -f FILE, or --name, --urn and --address")
	}
	attrs, err := in.attributes()
	if err != nil {
		return nil, err
	}
	ts, err := ttlStamp(in.ttl, now)
	if err != nil {
		return nil, err
	}
	kind := in.kind
	if kind == "" {
		kind = registry.KindRestful
		if in.proto == registry.ProtoGRPC {
			kind = registry.ProtoGRPC
		}
	}
	return registry.Registration{Name: in.name, Kind: registry.KindComplex, Address: in.address,
		InstanceID: cmp.Or(in.instance, in.address), Timestamp: ts,
		Content: &registry.Content{Services: []registry.Service{{URN: in.urn, Kind: kind, Proto: in.proto, Attrs: attrs}}}}, nil
}

// attributes are the service attrs the flags give.
func (in registerFlags) attributes() (map[string]string, error) {
	attrs := map[string]string{}
	for _, kv := range in.attrs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--attr %q: want KEY=VALUE", kv)
		}
		attrs[k] = v
	}
	if in.exposed {
		attrs[registry.AttrExposed] = "true"
	}
	if in.partners != "" {
		attrs[registry.AttrPartners] = in.partners
	}
	return attrs, nil
}

// ttlStamp is the timestamp of a validity of 1 ms to registry.MaxValidity:
// ms from now when below the wire's registry.RelativeLimit (30 min), else
// the absolute expiry in epoch ms by now, the CLI machine's clock (the
// wire cannot express a longer relative validity).
func ttlStamp(ttl time.Duration, now time.Time) (registry.Millis, error) {
	switch ms := ttl.Milliseconds(); {
	case ms < 1:
		return 0, fmt.Errorf("--ttl %v: at least 1ms (a registration must be valid for some time)", ttl)
	case ttl > registry.MaxValidity:
		return 0, fmt.Errorf("--ttl %v: at most %v (renew the registration instead)", ttl, registry.MaxValidity)
	case ms < registry.RelativeLimit:
		return registry.Millis(ms), nil
	}
	return registry.Millis(now.Add(ttl).UnixMilli()), nil
}

// readRegistration reads the JSON of a registration from path (- for
// stdin), at most registry.MaxBody bytes, sent on as it is.
func readRegistration(path string, stdin io.Reader) (json.RawMessage, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, registry.MaxBody+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", path, err)
	case len(b) > registry.MaxBody:
		return nil, fmt.Errorf("%s: more than %d bytes", path, registry.MaxBody)
	case !json.Valid(b):
		return nil, fmt.Errorf("%s: not JSON", path)
	}
	return b, nil
}

func registryListCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the registrations, with each instance's health",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showReply(cmd, c, "/v1/interconn/registry", nil, registrationsTable)
		},
	}
}

// registrationsTable prints one row per route of each registration.
func registrationsTable(ls []registry.Listed) func(io.Writer) {
	return func(w io.Writer) {
		if len(ls) == 0 {
			fmt.Fprintln(w, "no registrations")
			return
		}
		fmt.Fprintln(w, "NAME\tINSTANCE\tROUTE\tUPSTREAM\tHEALTH\tEXPIRES")
		for _, l := range ls {
			left := time.Until(l.Expires).Round(time.Second)
			for _, in := range l.Instances {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", l.Name, l.InstanceID, in.Route, in.Address, in.Health(), left)
			}
		}
	}
}

func registryRemoveCmd(c *control) *cobra.Command {
	var name, instance string
	cmd := &cobra.Command{
		Use:     "remove --name NAME --instance-id ID",
		Aliases: []string{"rm"},
		Short:   "Remove a registration: the node stops routing to that instance",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" || instance == "" {
				return fmt.Errorf("remove needs --name and --instance-id")
			}
			body := api.UnregisterRequest{Name: name, InstanceID: instance}
			return showReply(cmd, c, "/v1/interconn/registry/unregister", body, func(map[string]string) func(io.Writer) {
				return func(w io.Writer) { fmt.Fprintf(w, "removed %s (instance %s)\n", name, instance) }
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the registration's name")
	cmd.Flags().StringVar(&instance, "instance-id", "", "the registration's instance id")
	return cmd
}
