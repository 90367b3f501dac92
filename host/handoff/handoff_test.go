package handoff

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a successor: "serve" takes over
// the data socket and answers one connection with its pid; "fail" reports
// an error; "exit" exits before reporting anything.
const helperEnv = "HANDOFF_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "serve":
		os.Exit(serveHelper())
	case "fail":
		h, _ := Inherit()
		h.Fail(errors.New("config: unknown key \"colour\""))
		os.Exit(1)
	case "exit":
		os.Exit(3)
	case "hang": // never reports: until killed
		select {}
	}
}

func serveHelper() int {
	h, err := Inherit()
	if err != nil || h == nil {
		fmt.Fprintln(os.Stderr, "inherit:", err)
		return 2
	}
	if os.Getenv(Env) != "" {
		fmt.Fprintln(os.Stderr, "Env left set")
		return 2
	}
	lns, err := h.Listeners()
	if err != nil {
		h.Fail(err)
		return 2
	}
	_ = h.Report(Ready)
	c, err := lns["data"].Accept()
	if err != nil {
		return 2
	}
	_ = h.Report(Serving)
	fmt.Fprintf(c, "%d\n", os.Getpid())
	_ = c.Close()
	return 0
}

func start(t *testing.T, mode string, files map[string]*os.File) *Successor {
	t.Helper()
	s, err := Start(Spec{Path: os.Args[0], Args: []string{"-test.run=^$"},
		Env: append(os.Environ(), helperEnv+"="+mode, Env+"=stale=9"), Files: files, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHandOverListener: a connection made while the socket passes from one
// process to the other is queued by the kernel and served by the successor.
func TestHandOverListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, "serve", map[string]*os.File{"data": f})
	_ = f.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := s.Await(ctx, Ready); err != nil {
		t.Fatal(err)
	}
	_ = ln.Close() // the old process lets go: the socket lives on in the successor
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial after the old process closed its listener: %v", err)
	}
	defer c.Close()
	if err := s.Await(ctx, Serving); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != fmt.Sprint(s.Pid()) {
		t.Fatalf("served %q %v, want the successor's pid %d", line, err, s.Pid())
	}
	s.Abandon()
}

// TestSuccessorFailure: a successor that reports an error, or exits before
// it is ready, is an error naming why.
func TestSuccessorFailure(t *testing.T) {
	for mode, want := range map[string]string{"fail": `unknown key "colour"`, "exit": "exit status 3"} {
		t.Run(mode, func(t *testing.T) {
			s := start(t, mode, nil)
			defer s.Abandon()
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err := s.Await(ctx, Ready)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Await: %v, want %q", err, want)
			}
		})
	}
}

// TestAwaitCanceled: ending Await's ctx (the old node told to stop while
// its successor starts) ends the wait, with ctx's error, though the
// successor says nothing and its deadline is far.
func TestAwaitCanceled(t *testing.T) {
	s := start(t, "hang", nil)
	defer s.Abandon()
	ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
	done := make(chan error, 1)
	go func() { done <- s.Await(ctx, Ready) }()
	cancel()
	wait, stop := context.WithTimeout(t.Context(), time.Minute) // generous: a hang fails, not a slow run
	defer stop()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Await: %v, want context.Canceled", err)
		}
	case <-wait.Done():
		t.Fatal("Await did not end with its ctx")
	}
}

// TestNotHandedOver: without Env a process inherited nothing, and reports
// are no-ops.
func TestNotHandedOver(t *testing.T) {
	t.Setenv(Env, "")
	os.Unsetenv(Env)
	h, err := Inherit()
	if h != nil || err != nil {
		t.Fatalf("Inherit without %s: %v %v", Env, h, err)
	}
	if lns, err := h.Listeners(); lns != nil || err != nil || h.Report(Ready) != nil {
		t.Fatal("a nil Handed must do nothing")
	}
}
