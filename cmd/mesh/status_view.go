package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// frame writes one view of `mesh status --watch`: a header, then the
// node's totals and rates, its partners, plugins, services and cluster.
func frame(w io.Writer, addr string, every time.Duration, s reading) {
	fmt.Fprintf(w, "mesh status  %s  %s  (every %s; Ctrl-C to quit)\n", addr, s.At.Format(time.TimeOnly), every)
	switch {
	case s.Status == nil:
		fmt.Fprintf(w, "node: unreachable: %s\n(trying again every %s)\n", printable(s.Error), every)
		return
	case !s.Status.Ready:
		fmt.Fprintf(w, "ready: NO: %s\n", printable(s.Status.Reason))
		return
	}
	st, r := s.Status.Stats, s.Rates
	tw := newTable(w)
	fmt.Fprintf(tw, "node_id: %s\tready: yes\n\n", cmp.Or(printable(st.NodeID), "(none yet)"))
	fmt.Fprintln(tw, "\tTOTAL\tBYTES\tRATE\tTHROUGHPUT")
	fmt.Fprintf(tw, "pushed\t%d\t%d\t%s\t%s\n", st.Pushed, st.PushedBytes,
		msgRate(r, func(r *rates) float64 { return r.Pushed }), mbRate(r, func(r *rates) float64 { return r.PushedBytes }))
	fmt.Fprintf(tw, "popped\t%d\t%d\t%s\t%s\n", st.Popped, st.PoppedBytes,
		msgRate(r, func(r *rates) float64 { return r.Popped }), mbRate(r, func(r *rates) float64 { return r.PoppedBytes }))
	n := st.Network
	fmt.Fprintf(tw, "forwarded\t%d\t%d\t%s\t%s\n", n.Forwarded, n.ForwardedBytes,
		msgRate(r, func(r *rates) float64 { return r.Forwarded }), mbRate(r, func(r *rates) float64 { return r.ForwardedBytes }))
	fmt.Fprintf(tw, "\nwaiting pops: %d   outbox waiting: %d   retries: %d\n", st.WaitingPops, n.Waiting, n.Retries)
	partnerRows(tw, s)
	pluginRows(tw, s)
	serviceRows(tw, s)
	clusterLine(tw, s)
	_ = tw.Flush()
}

// partnerRows writes one row per partner with its throughput.
func partnerRows(w io.Writer, s reading) {
	ps := s.Status.Stats.Network.Partners
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPARTNER\tUP\tFORWARDED\tRATE\tTHROUGHPUT\tRETRIES\tOUTBOX")
	for _, p := range ps {
		id, r := p.NodeID, s.Rates
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", printable(id), yesNo(p.Up), p.Forwarded,
			msgRate(r, func(r *rates) float64 { return r.Partners[id] }),
			mbRate(r, func(r *rates) float64 { return r.PartnerBytes[id] }), p.Retries, p.Waiting)
	}
}

// pluginRows writes one row per plugin, by name.
func pluginRows(w io.Writer, s reading) {
	ps := s.Status.Stats.Plugins
	if len(ps) == 0 {
		return
	}
	fmt.Fprintln(w, "\nPLUGIN\tKIND\tCALLS\tFAILED")
	for _, name := range slices.Sorted(maps.Keys(ps)) {
		p := ps[name]
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", printable(name), p.Kind, p.Calls, p.Failed)
	}
}

// serviceRows writes one row per registered service route.
func serviceRows(w io.Writer, s reading) {
	ss := s.Status.Stats.Services
	if len(ss) == 0 {
		return
	}
	fmt.Fprintln(w, "\nSERVICE\tREQUESTS\tERRORS\tIN FLIGHT\tHEALTHY\tP99")
	for _, r := range ss {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d/%d\t%s\n", printable(r.Route), r.Requests, r.Errors, r.InFlight,
			r.Healthy, r.Instances, r.P99)
	}
}

// clusterLine says how this replica sees its cluster, when it runs one.
func clusterLine(w io.Writer, s reading) {
	c := s.Status.Stats.Cluster
	if c == nil {
		return
	}
	fmt.Fprintf(w, "\ncluster: %s\n", joinNonEmpty("   ",
		"replica "+printable(c.Replica)+" of "+strconv.Itoa(c.Replicas),
		labelled("nats", c.NATS), labelled("routes", strings.Join(c.Routes, ", ")),
		labelled("queue leader", c.QueueLeader), "outbox "+map[bool]string{true: "here", false: "elsewhere"}[c.Outbox]))
}

// labelled is "label value", or "" when there is no value.
func labelled(label, v string) string {
	if v == "" {
		return ""
	}
	return label + " " + printable(v)
}

func yesNo(b bool) string { return map[bool]string{true: "yes", false: "NO"}[b] }
