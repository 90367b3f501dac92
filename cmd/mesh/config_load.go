package main

import (
	"cmp"
	"fmt"
	"reflect"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/ppcmesh/mesh/host"
)

// The layers an option's value comes from, highest first.
const (
	fromFlag    = "flag"
	fromEnv     = "env"
	fromFile    = "file"
	fromDefault = "default"
)

// startConfig is the configuration `mesh start` and `mesh config print`
// read: the table's flags on a FlagSet, then (resolve) the environment and
// the --config file under them, over the defaults of host.Defaults().
type startConfig struct {
	cfg     host.Config
	flags   *pflag.FlagSet
	values  map[string]*fieldValue // by option name, over cfg's fields
	secrets map[string]*secret     // by option name
	sources map[string]string      // by option name: fromFlag, …
	files   map[string]string      // a secret's file, by option name
	getenv  func(string) string    // the environment resolve read
	config  string                 // --config
	server  bool                   // --server: the older Mesh's, accepted and ignored
}

// startFlags declares the flags of `mesh start` on f, one per option of
// startOptions, each showing the node's default (host.Defaults).
func startFlags(f *pflag.FlagSet) *startConfig {
	sc := &startConfig{cfg: host.Defaults(), flags: f, values: map[string]*fieldValue{}, secrets: map[string]*secret{}}
	cv := reflect.ValueOf(&sc.cfg).Elem()
	for _, o := range startOptions {
		usage := fmt.Sprintf("%s (env %s)", o.usage, o.env())
		if o.secret {
			sc.secrets[o.name] = secretFlags(f, o.name, o.env(), o.usage)
			continue
		}
		fv := &fieldValue{v: cv.FieldByName(o.field)}
		sc.values[o.name] = fv
		f.Var(fv, o.name, usage)
		if fv.v.Kind() == reflect.Bool {
			f.Lookup(o.name).NoOptDefVal = "true"
		}
		if o.def != "" {
			f.Lookup(o.name).DefValue = o.def
		}
	}
	f.StringVar(&sc.config, "config", "", "YAML file of options, keys as `mesh config print` writes them (env "+configEnv+"); flags and env override it")
	f.BoolVar(&sc.server, "server", false, "accepted for the older Mesh's `mesh start --server`; a node always serves")
	return sc
}

// resolve fills every option not given as a flag from getenv, else from
// the --config file (--config or MESH_CONFIG), else keeps its default,
// and records where each value came from. Secrets are only located here;
// readSecrets reads them.
func (sc *startConfig) resolve(getenv func(string) string) error {
	sc.getenv = getenv
	var file *configFile
	if path := cmp.Or(sc.config, getenv(configEnv)); path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return err
		}
	}
	sc.sources, sc.files = map[string]string{}, map[string]string{}
	for _, o := range startOptions {
		src, err := sc.resolveOne(o, getenv, file)
		if err != nil {
			return err
		}
		sc.sources[o.name] = src
	}
	return nil
}

// resolveOne sets option o from the highest layer that has it.
func (sc *startConfig) resolveOne(o option, getenv func(string) string, file *configFile) (string, error) {
	if o.secret {
		return sc.resolveSecret(o, getenv, file)
	}
	fv := sc.values[o.name]
	switch {
	case sc.flags.Changed(o.name):
		return fromFlag, nil
	case getenv(o.env()) != "":
		if err := fv.set(getenv(o.env())); err != nil {
			return "", fmt.Errorf("env %s: %w", o.env(), err)
		}
		return fromEnv, nil
	case o.field == "Listen" && getenv(legacyPortEnv) != "":
		return fromEnv, sc.legacyPort(fv, getenv(legacyPortEnv))
	case file != nil && file.has(o):
		return fromFile, file.set(o, fv)
	}
	return fromDefault, nil
}

// legacyPort sets the listen address from the older Mesh's port variable.
func (sc *startConfig) legacyPort(fv *fieldValue, port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("env %s=%q: want a port number", legacyPortEnv, port)
	}
	return fv.set(":" + port)
}

// resolveSecret locates a secret: its file from the flag, else the
// environment's value, else its file from the --config file.
func (sc *startConfig) resolveSecret(o option, getenv func(string) string, file *configFile) (string, error) {
	s := sc.secrets[o.name]
	switch {
	case sc.flags.Changed(o.flag()):
		sc.files[o.name] = s.file
		return fromFlag, nil
	case getenv(o.env()) != "":
		return fromEnv, nil
	case file != nil && file.has(o):
		var path string
		if err := file.set(o, &fieldValue{v: reflect.ValueOf(&path).Elem()}); err != nil {
			return "", err
		}
		s.file, sc.files[o.name] = path, path
		return fromFile, nil
	}
	return fromDefault, nil
}

// readSecrets reads the tokens resolve located into the configuration.
func (sc *startConfig) readSecrets() error {
	cv := reflect.ValueOf(&sc.cfg).Elem()
	for _, o := range startOptions {
		if !o.secret {
			continue
		}
		v, err := sc.secrets[o.name].valueFrom(sc.getenv)
		if err != nil {
			return err
		}
		cv.FieldByName(o.field).SetString(v)
	}
	return nil
}

// has says whether the file sets o.
func (cf *configFile) has(o option) bool {
	_, ok := cf.entries[o.name]
	return ok
}
