package mesh

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// ErrNoSuchNode is the error (errors.Is) for a name that is no node's on
// the tailnet. It is final: the tailnet map is the answer, so calling
// again does not help.
var ErrNoSuchNode = errors.New("no such node")

// NoNodeError is a name that no node of the tailnet has, with the names
// that look like it.
type NoNodeError struct {
	Name       string   `json:"name"`
	DidYouMean []string `json:"did_you_mean,omitempty"`
}

func (e *NoNodeError) Error() string {
	msg := fmt.Sprintf("no node named %q on the tailnet", e.Name)
	if len(e.DidYouMean) > 0 {
		msg += "; did you mean " + strings.Join(e.DidYouMean, " or ") + "?"
	} else {
		msg += " (meshrpc peers lists them)"
	}
	return msg
}

// Is makes errors.Is(err, ErrNoSuchNode) true.
func (e *NoNodeError) Is(target error) bool { return target == ErrNoSuchNode }

// ErrOffline is the error (errors.Is) for a node that the tailnet knows but
// reports offline: a dial to it fails at once rather than wait for a node
// that is not there.
var ErrOffline = errors.New("node offline")

// OfflineError is a node the control server reports offline, with when it
// was last seen connected.
type OfflineError struct {
	Name     string     `json:"name"`
	Addr     netip.Addr `json:"addr"`
	LastSeen time.Time  `json:"last_seen"`
}

func (e *OfflineError) Error() string {
	ago := time.Since(e.LastSeen)
	if ago < time.Hour {
		ago = ago.Round(time.Second)
	} else {
		ago = ago.Round(time.Minute)
	}
	return fmt.Sprintf("%s (%s) is offline (last seen %s, %v ago)", e.Name, e.Addr, e.LastSeen.UTC().Format("2006-01-02 15:04:05 UTC"), ago)
}

// Is makes errors.Is(err, ErrOffline) true.
func (e *OfflineError) Is(target error) bool { return target == ErrOffline }

// Offline reports whether the control server says p is offline. A control
// server that does not track it (no last-seen time) leaves every peer
// possibly online.
func (p Peer) Offline() bool { return !p.Online && !p.LastSeen.IsZero() }

// CheckOnline is an *OfflineError for a peer the tailnet reports offline; self
// never is.
func CheckOnline(self, p Peer) error {
	if !p.Offline() || (len(p.Addrs) > 0 && slices.Contains(self.Addrs, p.Addrs[0])) {
		return nil
	}
	var addr netip.Addr
	if len(p.Addrs) > 0 {
		addr = p.Addrs[0]
	}
	return &OfflineError{Name: p.Name, Addr: addr, LastSeen: p.LastSeen}
}

// ErrAmbiguousName is the error (errors.Is) for a name that two nodes of
// the tailnet answer to.
var ErrAmbiguousName = errors.New("ambiguous node name")

// FindPeer finds the node named name (its MagicDNS short or full name, any
// case) among self and peers. A name no node has is a *NoNodeError that
// suggests the names within two edits; a name that several online nodes
// have is an error naming each with its address (calls go by address, so
// they must not guess). Of a name's nodes, offline ones count only when
// none is online.
func FindPeer(self Peer, peers []Peer, name string) (Peer, error) {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	var online, offline []Peer
	for _, p := range append(slices.Clip(peers), self) {
		if len(p.Addrs) == 0 || !(strings.EqualFold(p.Name, name) || strings.EqualFold(p.DNSName, name)) {
			continue
		}
		if p.Online || p.Name == self.Name {
			online = append(online, p)
		} else {
			offline = append(offline, p)
		}
	}
	found := online
	if len(found) == 0 {
		found = offline
	}
	switch len(found) {
	case 0:
		return Peer{}, &NoNodeError{Name: name, DidYouMean: lookAlikes(name, append(slices.Clip(peers), self))}
	case 1:
		return found[0], nil
	}
	var which []string
	for _, p := range found {
		which = append(which, fmt.Sprintf("%s (%s)", p.DNSName, p.Addrs[0]))
	}
	return Peer{}, fmt.Errorf("mesh: %w: %q is the name of %s; use an address or the full name", ErrAmbiguousName, name, strings.Join(which, " and "))
}

// lookAlikes are the names of nodes within two edits of name, or that
// begin with it.
func lookAlikes(name string, nodes []Peer) []string {
	var out []string
	for _, p := range nodes {
		n := strings.ToLower(p.Name)
		if n != "" && !slices.Contains(out, p.Name) && (strings.HasPrefix(n, name) || editDistance(n, name) <= 2) {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out
}

// editDistance is the Levenshtein distance between a and b (in bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
