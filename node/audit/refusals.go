package audit

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxText bounds each caller-chosen string of a record (method, key, tag,
// node, login); MaxError bounds its error message. Beyond them a record
// keeps the start and says how much was cut, so that a caller cannot make
// one record, or the node's log, as large as its request.
const (
	MaxText  = 256
	MaxError = 1024
)

// Clip is s cut to at most n bytes (at a rune boundary), followed by a
// marker of the bytes cut when it was longer.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s...[%d more bytes]", s[:cut], len(s)-cut)
}

// bounded is r with every string clipped.
func bounded(r Record) Record {
	r.Method, r.Key = Clip(r.Method, MaxText), Clip(r.Key, MaxText)
	r.Node, r.Login, r.Addr = Clip(r.Node, MaxText), Clip(r.Login, MaxText), Clip(r.Addr, MaxText)
	r.CallID, r.Error = Clip(r.CallID, MaxText), Clip(r.Error, MaxError)
	if slices.ContainsFunc(r.Tags, func(t string) bool { return len(t) > MaxText }) {
		tags := make([]string, len(r.Tags)) // the caller's slice stays as it is
		for i, t := range r.Tags {
			tags[i] = Clip(t, MaxText)
		}
		r.Tags = tags
	}
	return r
}

// OutcomeSuppressed marks a record that stands for a caller's refusals
// that were not written one by one; its Error says how many.
const OutcomeSuppressed = "suppressed"

// A caller's refusals (denials, and calls refused before they ran:
// -32700, -32600, -32601, -32602, -32006) and its calls that need no rule
// (Record.NoRule: on its own personal space, rpc.allowed) are written one by one up to refusalBurst at once,
// then one per refusalEvery; the rest are counted, and the count is
// written as one OutcomeSuppressed record before the caller's next such
// record that is written (or at Close). So a peer that floods the node
// with refused calls, or with calls that need no rule, cannot rotate the owner's earlier
// records out of the log: it adds at most refusalBurst records, then 2 per
// refusalEvery.
const (
	refusalBurst = 64
	refusalEvery = 10 * time.Second
	// maxCallers bounds the callers tracked; beyond it those with a full
	// bucket and nothing suppressed are forgotten (they would be admitted
	// anyway).
	maxCallers = 4096
)

// bucket is one caller's token bucket of refusals.
type bucket struct {
	tokens     float64
	at         time.Time // when tokens was last brought up to date
	suppressed int64     // refusals not written
	noRule     int64     // calls that need no rule not written
	since      time.Time // the first of them
	node       string    // the caller, for the summary record
	login      string
	addr       string
}

func refused(r *Record) bool {
	switch r.Code {
	case -32700, -32600, -32601, -32602, -32006: // not JSON-RPC, no such method, bad params, too many calls at once
		return true
	}
	return r.Outcome == OutcomeDenied
}

// budgeted reports whether r counts against its caller's budget.
func budgeted(r *Record) bool { return r.NoRule || refused(r) }

// counting reports whether b counts records not written.
func (b *bucket) counting() bool { return b.suppressed+b.noRule > 0 }

// callerKey names the caller of r: its node, else its address's host.
func callerKey(r *Record) string {
	if r.Node != "" {
		return "node:" + r.Node
	}
	if host, _, err := net.SplitHostPort(r.Addr); err == nil {
		return "addr:" + host
	}
	return "addr:" + r.Addr
}

// admit reports whether r is to be written; a refusal beyond its caller's
// budget is counted instead. When r is written and refusals of its caller
// were counted, summary is the record that says so, to be written first.
// l.mu is held.
func (l *Log) admit(r *Record) (summary *Record, ok bool) {
	if !budgeted(r) {
		return nil, true
	}
	now := time.Now()
	key := callerKey(r)
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxCallers {
			l.forgetIdle(now)
		}
		if len(l.buckets) >= maxCallers {
			key = "(many callers)" // they share one budget
		}
		if b = l.buckets[key]; b == nil {
			b = &bucket{tokens: refusalBurst, at: now}
			l.buckets[key] = b
		}
	}
	b.tokens = min(refusalBurst, b.tokens+now.Sub(b.at).Seconds()/refusalEvery.Seconds())
	b.at = now
	if b.tokens < 1 {
		if !b.counting() {
			b.since = now
		}
		if refused(r) {
			b.suppressed++
		} else {
			b.noRule++
		}
		b.node, b.login, b.addr = r.Node, r.Login, r.Addr
		return nil, false
	}
	b.tokens--
	if b.counting() {
		summary = b.summary(now)
	}
	return summary, true
}

func (b *bucket) summary(now time.Time) *Record {
	var what []string
	if b.suppressed > 0 {
		what = append(what, fmt.Sprintf("%d more refused calls", b.suppressed))
	}
	if b.noRule > 0 {
		what = append(what, fmt.Sprintf("%d more calls that need no rule (on its own keys, rpc.allowed)", b.noRule))
	}
	s := &Record{
		Time: now, Node: b.node, Login: b.login, Addr: b.addr, Outcome: OutcomeSuppressed,
		Error: fmt.Sprintf("%s from this caller since %s not recorded one by one (at most %d at once, then one per %s)",
			strings.Join(what, " and "), b.since.UTC().Format(time.RFC3339), refusalBurst, refusalEvery),
	}
	b.suppressed, b.noRule = 0, 0
	return s
}

// forgetIdle drops the buckets that are full again and count nothing.
func (l *Log) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if !b.counting() && b.tokens+now.Sub(b.at).Seconds()/refusalEvery.Seconds() >= refusalBurst {
			delete(l.buckets, k)
		}
	}
}

// summaries are the records of every caller's refusals still counted,
// written at Close. l.mu is held.
func (l *Log) summaries(now time.Time) []Record {
	var out []Record
	for _, b := range l.buckets {
		if b.counting() {
			out = append(out, *b.summary(now))
		}
	}
	return out
}
