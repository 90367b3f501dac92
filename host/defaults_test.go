package host_test

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ppcmesh/mesh/host"
)

// unsetByDesign are the Config fields with no default in the table: they
// are the operator's (secrets, addresses, peers), follow the cluster
// (Replicas), come from the machine (Home, Name, PluginCache, Logger), are
// off unless asked for, or are set in-process.
var unsetByDesign = map[string]bool{
	"Home": true, "AdminToken": true, "ContainerToken": true, "Hosts": true, "Advertise": true,
	"NATSListen": true, "NATSURL": true, "NATSCreds": true, "NATSCA": true,
	"ClusterListen": true, "ClusterPeers": true, "ClusterToken": true, "Replicas": true,
	"Name": true, "SyncAlways": true, "PluginCache": true, "Logger": true,
	// operations: off unless asked for
	"AdminListen": true, "AccessLog": true, "AuditLog": true, "OTLPEndpoint": true,
	// set in-process: by a program embedding the node, or an upgrade's new process
	"TracerProvider": true, "Inherit": true, "LockWait": true, "Version": true,
}

// TestDefaultsCoverEveryField: every Config field is either in the table
// (non-zero in Defaults) or named above as unset by design, so a new field
// cannot silently fall back to some package's own default.
func TestDefaultsCoverEveryField(t *testing.T) {
	d := reflect.ValueOf(host.Defaults())
	for i := range d.NumField() {
		name := d.Type().Field(i).Name
		if zero := d.Field(i).IsZero(); zero != unsetByDesign[name] {
			t.Errorf("Config.%s: zero in Defaults() = %v, unset by design = %v", name, zero, unsetByDesign[name])
		}
	}
}

// TestZeroConfigValidatesToDefaults: Validate fills a zero Config with the
// table, and with the machine's values only where the table has none.
func TestZeroConfigValidatesToDefaults(t *testing.T) {
	home := t.TempDir()
	cfg := host.Config{Home: home}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil || !strings.HasSuffix(cfg.Name, "-7304") || cfg.PluginCache != filepath.Join(home, "plugin-cache") {
		t.Errorf("machine defaults: logger %v, name %q (want HOSTNAME-7304), plugin cache %q", cfg.Logger, cfg.Name, cfg.PluginCache)
	}
	cfg.Home, cfg.Name, cfg.PluginCache, cfg.Logger = "", "", "", nil
	if want := host.Defaults(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("a zero Config validates to\n %+v\nnot the table\n %+v", cfg, want)
	}
}

// TestValidateKeepsWhatIsSet: a set field is never replaced by its default,
// and a negative one is.
func TestValidateKeepsWhatIsSet(t *testing.T) {
	cfg := host.Config{Home: t.TempDir(), Listen: "127.0.0.1:0", Name: "r1", MaxMessage: 1 << 20,
		DefaultPopWait: time.Second, ClusterName: "c", MaxStreams: 10, MaxPopsPerConn: 2, FullWait: -1}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" || cfg.Name != "r1" || cfg.MaxMessage != 1<<20 || cfg.DefaultPopWait != time.Second ||
		cfg.ClusterName != "c" || cfg.MaxStreams != 10 || cfg.MaxPopsPerConn != 2 {
		t.Errorf("set fields replaced: %+v", cfg)
	}
	if want := host.Defaults().FullWait; cfg.FullWait != want {
		t.Errorf("negative full wait became %v, want the default %v", cfg.FullWait, want)
	}
}

// TestValidateRefusesBadConfig: what the defaults cannot mend is refused,
// with the setting named.
func TestValidateRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  host.Config
		want string
	}{
		{host.Config{Listen: "nonsense"}, "listen address"},
		{host.Config{MaxMessage: 2 << 30}, "max message"},
		{host.Config{ContainerNets: []string{"not-a-net"}}, "container networks"},
		{host.Config{MaxStreams: 64}, "max pops per connection"},
	} {
		c.cfg.Home = t.TempDir()
		if err := c.cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %q", c.cfg, err, c.want)
		}
	}
}
