package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppcmesh/mesh/host/plugin"
)

// pluginCmd is `mesh plugin …`: the WebAssembly plugins of a running node.
func pluginCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Install, list, inspect, enable, disable and remove the WebAssembly plugins of a node",
		Long: `A plugin is a WebAssembly module the node runs: a codec encodes payloads for a
partner and decodes them on receipt, an auth policy admits or refuses requests, a
route handler answers requests for configured paths. The node stores what is
installed, so every replica loads the same plugins and a change applies without
a restart.

Compress everything sent to node-b:

  mesh plugin install gzip.wasm            # named gzip; codec, found from its exports
  mesh plugin list
  mesh net add node-b --codec gzip         # payloads to node-b travel gzipped
  mesh plugin inspect gzip

Secrets a plugin needs (keys, tokens) go in a file, not on the command line:

  mesh plugin install policy.wasm --kind auth --config-file policy.conf
  mesh plugin disable policy               # stop calling it, keep it installed
  mesh plugin enable policy
  mesh plugin remove policy`,
	}
	groupCmd(cmd)
	c := controlFlags(cmd)
	cmd.AddCommand(pluginInstallCmd(c), pluginListCmd(c), pluginInspectCmd(c), pluginRemoveCmd(c),
		pluginSwitchCmd(c, "enable", "Load an installed plugin and call it again"),
		pluginSwitchCmd(c, "disable", "Stop calling a plugin, keeping it installed"))
	completeArgs(cmd, c, pluginNames, "inspect", "remove", "enable", "disable")
	cmd.AddCommand(pluginTestCmd())
	cmd.AddCommand(pluginNewCmd())
	return cmd
}

// installFlags are the flags of `mesh plugin install` that need reading.
type installFlags struct {
	kind, sha, configFile                    string
	config, prefixes, allowHosts, allowPaths []string
	cacheTTL, timeout                        time.Duration
	maxMemory                                int64
	pool                                     int
	failOpen, disabled                       bool
	cacheChanged, timeoutChanged             bool // given at all
}

func pluginInstallCmd(c *control) *cobra.Command {
	var (
		req plugin.InstallRequest
		in  installFlags
	)
	cmd := &cobra.Command{
		Use:   "install FILE.wasm [--name NAME] [--kind codec|auth|route] [--config KEY=VALUE ...]",
		Short: "Install a WebAssembly module as a plugin (or replace the one of the same name)",
		Long: `install sends a WebAssembly module to the node, which checks it, stores it and (unless
--disabled) loads it on every replica. The kind is found from the module's exports
when --kind is left out:

` + kindsHelp() + `
The node checks the module against --sha256 (or, without it, against the hash
computed here) after the transfer. Config values reach the plugin and are never
shown back: inspect prints their keys only. Put secrets in --config-file (KEY=VALUE
lines, # comments) so they stay out of shell history.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := cmd.Flags()
			in.cacheChanged, in.timeoutChanged = f.Changed("cache-ttl"), f.Changed("timeout")
			if err := readInstall(&req, &in, args[0]); err != nil {
				return err
			}
			var r plugin.Record
			if err := c.call(cmd.Context(), "/v1/interconn/plugin/install", req, &r); err != nil {
				return err
			}
			return c.print(cmd.OutOrStdout(), r, func(w io.Writer) {
				fmt.Fprintf(w, "installed %s (%s, %s, sha256 %s…) — %s\n", r.Name, r.Kind, size(r.Size), short(r.SHA256), stateLine(r))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Name, "name", "", "the plugin's name (default: the file's name without .wasm)")
	f.StringVar(&in.kind, "kind", "", "codec, auth or route (default: the one kind the module's exports fit)")
	f.StringArrayVar(&in.config, "config", nil, "KEY=VALUE handed to the plugin (repeatable)")
	f.StringVar(&in.configFile, "config-file", "", "file of KEY=VALUE lines handed to the plugin (# comments); --config wins")
	f.StringArrayVar(&in.prefixes, "prefix", nil, "route: a URL path or x-ptp-uri prefix it handles (repeatable)")
	f.BoolVar(&in.failOpen, "fail-open", false, "auth: admit requests when the policy fails (default: refuse them)")
	f.DurationVar(&in.cacheTTL, "cache-ttl", 0, "auth: how long a decision is cached (default 5s; 0 turns the cache off)")
	f.DurationVar(&in.timeout, "timeout", 0, "deadline of one call (default per kind: "+kindTimeouts()+")")
	f.Int64Var(&in.maxMemory, "max-memory", 0, "cap of the module's linear memory in MiB (default 256)")
	f.IntVar(&in.pool, "pool", 0, "instances kept at most, so calls at once (default 4)")
	f.StringArrayVar(&in.allowHosts, "allow-host", nil, "auth, route: HOST or HOST:PORT the plugin may call over HTTP(S); without a port only 443/80 (repeatable)")
	f.StringArrayVar(&in.allowPaths, "allow-path", nil, "auth, route: HOSTDIR:GUESTDIR the plugin may read, rw:HOSTDIR:GUESTDIR read and write (repeatable)")
	f.StringVar(&in.sha, "sha256", "", "the module's expected SHA-256 in hex; refused if it differs")
	f.BoolVar(&in.disabled, "disabled", false, "install without enabling it")
	return cmd
}

// readInstall fills req from the module file and the flags.
func readInstall(req *plugin.InstallRequest, in *installFlags, file string) error {
	wasm, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !plugin.IsWasm(wasm) {
		return fmt.Errorf("%s is not a WebAssembly module (it does not start with \\0asm)", file)
	}
	if len(wasm) > plugin.MaxModule {
		return fmt.Errorf("%s is %s: the node accepts modules up to %s", file, size(int64(len(wasm))), size(plugin.MaxModule))
	}
	sum := sha256.Sum256(wasm)
	got := hex.EncodeToString(sum[:])
	if in.sha != "" {
		want := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(in.sha), "sha256:"))
		if want != got {
			return fmt.Errorf("%s has sha256 %s, not %s (--sha256)", file, got, want)
		}
	}
	req.Wasm, req.SHA256, req.Disabled = wasm, got, in.disabled
	if req.Name == "" {
		req.Name = strings.TrimSuffix(filepath.Base(file), ".wasm")
	}
	if in.kind != "" {
		if _, err := plugin.Spec(plugin.Kind(in.kind)); err != nil {
			return fmt.Errorf("--kind: %w", err)
		}
		req.Kind = plugin.Kind(in.kind)
	}
	if req.Config, err = readConfig(in.configFile, in.config); err != nil {
		return err
	}
	o := &req.Options
	o.Prefixes, o.FailOpen, o.Pool, o.AllowHosts = in.prefixes, in.failOpen, in.pool, in.allowHosts
	if in.maxMemory < 0 || in.pool < 0 {
		return fmt.Errorf("--max-memory and --pool cannot be negative")
	}
	o.MaxMemoryMB = in.maxMemory
	if in.cacheChanged {
		o.CacheTTLms = -1 // off, unless a positive duration was given
		if in.cacheTTL > 0 {
			o.CacheTTLms = millis(in.cacheTTL)
		}
	}
	if in.timeoutChanged {
		if in.timeout <= 0 {
			return fmt.Errorf("--timeout %s: want a positive duration such as 500ms", in.timeout)
		}
		o.TimeoutMs = millis(in.timeout)
	}
	return readAllowPaths(o, in.allowPaths)
}

// readAllowPaths fills o.AllowPaths from --allow-path values: read-only
// unless rw: says read-write (ro: is accepted and changes nothing).
func readAllowPaths(o *plugin.Options, paths []string) error {
	for _, p := range paths {
		mode, rest := "", p
		for _, m := range []string{plugin.PathReadWrite, plugin.PathReadOnly} {
			if r, ok := strings.CutPrefix(p, m); ok {
				mode, rest = m, r
			}
		}
		i := strings.LastIndex(rest, ":")
		if i <= 0 || i == len(rest)-1 {
			return fmt.Errorf("--allow-path %q: want HOSTDIR:GUESTDIR (read only), or rw:HOSTDIR:GUESTDIR for read and write", p)
		}
		if o.AllowPaths == nil {
			o.AllowPaths = map[string]string{}
		}
		o.AllowPaths[mode+rest[:i]] = rest[i+1:]
	}
	return nil
}

// millis is d in whole milliseconds, rounded up so that a positive d stays
// positive.
func millis(d time.Duration) int64 { return int64((d + time.Millisecond - 1) / time.Millisecond) }

// readConfig reads KEY=VALUE lines from file (when given), then the
// --config pairs over them.
func readConfig(file string, pairs []string) (map[string]string, error) {
	cfg := map[string]string{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if k = strings.TrimSpace(k); !ok || k == "" {
				// The line may hold a secret: name it by number only.
				return nil, fmt.Errorf("%s:%d: want KEY=VALUE", file, n)
			}
			cfg[k] = strings.TrimSpace(v)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
	}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--config %q: want KEY=VALUE", p)
		}
		cfg[k] = v
	}
	if len(cfg) == 0 {
		return nil, nil
	}
	return cfg, nil
}

func pluginListCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List installed plugins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return showReply(cmd, c, "/v1/interconn/plugin", nil, pluginsTable)
		},
	}
}

func pluginInspectCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show one plugin in full: its hash, exports, config keys and options",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/plugin/"+url.PathEscape(args[0]), nil, pluginTable)
		},
	}
}

func pluginRemoveCmd(c *control) *cobra.Command {
	return &cobra.Command{
		Use:     "remove NAME",
		Aliases: []string{"rm"},
		Short:   "Uninstall a plugin",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/plugin/remove", nameBody(args[0]), func(map[string]string) func(io.Writer) {
				return func(w io.Writer) { fmt.Fprintf(w, "removed plugin %s\n", args[0]) }
			})
		},
	}
}

// pluginSwitchCmd is `mesh plugin enable` or `mesh plugin disable`.
func pluginSwitchCmd(c *control, op, short string) *cobra.Command {
	return &cobra.Command{
		Use:   op + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showReply(cmd, c, "/v1/interconn/plugin/"+op, nameBody(args[0]), func(r plugin.Record) func(io.Writer) {
				return func(w io.Writer) { fmt.Fprintf(w, "%sd plugin %s (%s) — %s\n", op, r.Name, r.Kind, stateLine(r)) }
			})
		},
	}
}

// nameBody is the body of the control calls that name one plugin.
func nameBody(name string) map[string]string { return map[string]string{"name": name} }

// pluginsTable prints one line a plugin; an ERROR column when one failed
// to load.
func pluginsTable(rs []plugin.Record) func(io.Writer) {
	return func(w io.Writer) {
		if len(rs) == 0 {
			fmt.Fprintln(w, "no plugins: install one with mesh plugin install")
			return
		}
		failed := slices.ContainsFunc(rs, func(r plugin.Record) bool { return r.Error != "" })
		fmt.Fprint(w, "NAME\tKIND\tSTATE\tSIZE\tSHA256\tINSTALLED")
		if failed {
			fmt.Fprint(w, "\tERROR")
		}
		fmt.Fprintln(w)
		for _, r := range rs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s", r.Name, r.Kind, pluginState(r), size(r.Size), dash(short(r.SHA256)), dash(when(r.Installed)))
			if failed {
				fmt.Fprintf(w, "\t%s", dash(r.Error))
			}
			fmt.Fprintln(w)
		}
	}
}

// pluginTable prints one plugin in full: config by key (the node hides the
// values), options only where set.
func pluginTable(r plugin.Record) func(io.Writer) {
	return func(w io.Writer) {
		o := r.Options
		kv := []string{"name", r.Name, "kind", string(r.Kind), "state", pluginState(r), "error", r.Error,
			"size", fmt.Sprintf("%s (%d bytes)", size(r.Size), r.Size), "sha256", r.SHA256,
			"installed", when(r.Installed), "exports", strings.Join(r.Exports, ", ")}
		for _, k := range slices.Sorted(maps.Keys(r.Config)) {
			kv = append(kv, "config "+k, cmp.Or(r.Config[k], `""`))
		}
		kv = append(kv, "prefixes", strings.Join(o.Prefixes, ", "), "fail_open", yes(o.FailOpen),
			"cache_ttl", cacheTTL(o.CacheTTLms), "timeout", msDuration(o.TimeoutMs),
			"max_memory", mib(o.MaxMemoryMB), "pool", count(o.Pool),
			"allow_hosts", strings.Join(o.AllowHosts, ", "), "allow_paths", allowPaths(o.AllowPaths))
		fields(w, kv...)
	}
}

// allowPaths is HOSTDIR:GUESTDIR pairs as --allow-path takes them.
func allowPaths(m map[string]string) string {
	var p []string
	for _, h := range slices.Sorted(maps.Keys(m)) {
		p = append(p, h+":"+m[h])
	}
	return strings.Join(p, ", ")
}

// pluginState is enabled, disabled or failed (enabled, but the node could
// not load it).
func pluginState(r plugin.Record) string {
	switch {
	case r.State != "":
		return r.State
	case r.Error != "":
		return "failed"
	case r.Enabled:
		return "enabled"
	}
	return "disabled"
}

// stateLine is a record's state for the one-line replies, with the reason
// when the node could not load it.
func stateLine(r plugin.Record) string {
	if r.Error != "" {
		return pluginState(r) + ": the node could not load it: " + r.Error
	}
	return pluginState(r)
}

// short is the first 12 hex digits of a hash, as list shows it.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// size is n bytes for people: B, KiB or MiB.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func cacheTTL(ms int64) string {
	if ms < 0 {
		return "off"
	}
	return msDuration(ms)
}

// msDuration is ms as a Go duration, "" when 0 (the kind's default).
func msDuration(ms int64) string {
	if ms == 0 {
		return ""
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

func mib(n int64) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d MiB", n)
}

func count(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// kindsHelp lists the kinds and the exports each needs, from the table.
func kindsHelp() string {
	var b strings.Builder
	for _, s := range plugin.Kinds {
		fmt.Fprintf(&b, "  %-6s exports %s\n", s.Kind, strings.Join(s.Exports, ", "))
	}
	return b.String()
}

// kindTimeouts lists each kind's default call deadline.
func kindTimeouts() string {
	var t []string
	for _, s := range plugin.Kinds {
		t = append(t, fmt.Sprintf("%s %s", s.Kind, s.Timeout))
	}
	return strings.Join(t, ", ")
}
