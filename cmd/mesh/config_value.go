package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// durationType is the one named type among the option fields' kinds.
var durationType = reflect.TypeFor[time.Duration]()

// fieldValue is a host.Config field as a flag value: the one parser of an
// option's text, whether it comes from a flag, the environment or the
// --config file.
type fieldValue struct {
	v       reflect.Value
	touched bool // a list flag given once replaces the default, then appends
}

// set parses s into the field: durations as Go durations ("30s"), sizes
// and counts as integers, booleans as strconv reads them, lists as
// comma-separated values.
func (f *fieldValue) set(s string) error {
	v := f.v
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a duration such as 30s or 1h30m, got %q", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case v.CanInt():
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want an integer, got %q", s)
		}
		v.SetInt(n)
	case v.CanUint():
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		v.SetUint(n)
	case v.Kind() == reflect.Slice:
		f.setList(splitList(s))
	default:
		return fmt.Errorf("no parser for %s", v.Type()) // caught by TestEveryConfigFieldIsAnOption
	}
	return nil
}

// setList sets a list field to items.
func (f *fieldValue) setList(items []string) {
	f.v.Set(reflect.ValueOf(items))
}

// want says what set accepts, for errors about the --config file.
func (f *fieldValue) want() string {
	switch {
	case f.v.Type() == durationType:
		return "a duration such as 30s"
	case f.v.Kind() == reflect.String:
		return "a string"
	case f.v.Kind() == reflect.Bool:
		return "true or false"
	case f.v.Kind() == reflect.Slice:
		return "a list of strings"
	}
	return "an integer"
}

// Set is the flag's parser: a list flag's first use replaces the default,
// later ones append (--host a --host b,c).
func (f *fieldValue) Set(s string) error {
	if f.v.Kind() == reflect.Slice {
		if !f.touched {
			f.v.Set(reflect.Zero(f.v.Type()))
		}
		f.touched = true
		f.setList(append(f.v.Interface().([]string), splitList(s)...))
		return nil
	}
	return f.set(s)
}

// String is the field as a flag shows it (and as set reads it back).
func (f *fieldValue) String() string {
	switch x := f.v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case time.Duration:
		return x.String()
	}
	return fmt.Sprint(f.v.Interface())
}

// Type names the value's kind in --help.
func (f *fieldValue) Type() string {
	switch {
	case f.v.Type() == durationType:
		return "duration"
	case f.v.Kind() == reflect.Slice:
		return "strings"
	}
	return f.v.Kind().String()
}

// yaml is the field as a YAML value --config reads back: strings and
// durations quoted (JSON strings are YAML), lists in flow style.
func (f *fieldValue) yaml() string {
	switch x := f.v.Interface().(type) {
	case []string:
		if x == nil {
			x = []string{}
		}
		b, _ := json.Marshal(x)
		return string(b)
	case time.Duration, string:
		b, _ := json.Marshal(f.String())
		return string(b)
	}
	return f.String()
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
