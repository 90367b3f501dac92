package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// secret is a token the command needs: read from a file (--NAME-file) or
// the environment, never from the command line, where every user of the
// machine can read it (ps, /proc/PID/cmdline, shell history).
type secret struct {
	flag, env string
	file      string
	argv      string // a value given on the command line, refused
}

// secretFlags adds --NAME-file, and a hidden --NAME that explains where the
// token goes instead.
func secretFlags(f *pflag.FlagSet, name, env, usage string) *secret {
	s := &secret{flag: name, env: env}
	f.StringVar(&s.file, name+"-file", "", fmt.Sprintf("file holding the %s (or env %s); never given on the command line", usage, env))
	f.StringVar(&s.argv, name, "", "")
	_ = f.MarkHidden(name)
	return s
}

// value reads the secret: the file when given, else the environment.
func (s *secret) value() (string, error) { return s.valueFrom(os.Getenv) }

// valueFrom is value with the environment read through getenv.
func (s *secret) valueFrom(getenv func(string) string) (string, error) {
	if s.argv != "" {
		return "", fmt.Errorf("--%s on the command line is visible to every user of this machine: put the token in env %s or a file named by --%s-file", s.flag, s.env, s.flag)
	}
	if s.file == "" {
		return strings.TrimSpace(getenv(s.env)), nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", s.flag, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--%s-file %s is empty", s.flag, s.file)
	}
	return v, nil
}

// ptpTokenFlags adds --ptp-token-file (env MESH_PTP_TOKEN): the
// x-ptp-token a node's token policy asks containers for.
func ptpTokenFlags(f *pflag.FlagSet) *secret {
	return secretFlags(f, "ptp-token", "MESH_PTP_TOKEN", "x-ptp-token, for a node whose token policy asks for one")
}
