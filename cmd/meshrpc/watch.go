package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshrpc/meshrpc/mesh"
)

// peerEvent is one change `meshrpc peers --watch` reports.
type peerEvent struct {
	Time  time.Time `json:"time"`
	Event string    `json:"event"` // present, joined, left, online, offline, path
	Peer  mesh.Peer `json:"peer"`
}

// peerEvents compares two views of the tailnet. Without a previous view
// every peer is "present".
func peerEvents(prev map[string]mesh.Peer, cur []mesh.Peer, now time.Time) []peerEvent {
	var events []peerEvent
	seen := map[string]bool{}
	for _, p := range cur {
		seen[p.DNSName] = true
		old, known := prev[p.DNSName]
		switch {
		case prev == nil:
			events = append(events, peerEvent{now, "present", p})
		case !known:
			events = append(events, peerEvent{now, "joined", p})
		case old.Online != p.Online && p.Online:
			events = append(events, peerEvent{now, "online", p})
		case old.Online != p.Online:
			events = append(events, peerEvent{now, "offline", p})
		case old.CurAddr != p.CurAddr || old.Relay != p.Relay:
			events = append(events, peerEvent{now, "path", p})
		}
	}
	for name, p := range prev {
		if !seen[name] {
			events = append(events, peerEvent{now, "left", p})
		}
	}
	slices.SortStableFunc(events, func(a, b peerEvent) int { return strings.Compare(a.Peer.Name, b.Peer.Name) })
	return events
}

// watchPeers prints the tailnet's changes until ctx ends: a line each, or
// with --json a JSON object per line.
func watchPeers(ctx context.Context, opts *peersOptions) error {
	c, err := opts.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var prev map[string]mesh.Peer
	err = c.WatchPeers(ctx, func(peers []mesh.Peer) error {
		for _, e := range peerEvents(prev, peers, time.Now()) {
			if opts.json {
				if err := printJSONLine(opts.stdout, e); err != nil {
					return err
				}
				continue
			}
			if _, err := fmt.Fprintf(opts.stdout, "%s  %-7s  %s\n", e.Time.Format("15:04:05"), e.Event, describePeer(e.Peer)); err != nil {
				return err
			}
		}
		prev = make(map[string]mesh.Peer, len(peers))
		for _, p := range peers {
			prev[p.DNSName] = p
		}
		return nil
	})
	if err != nil {
		return unreachableError{err}
	}
	return nil
}

// describePeer is a peer in one line: name, address, state, path.
func describePeer(p mesh.Peer) string {
	var b strings.Builder
	b.WriteString(escape(p.Name))
	if len(p.Addrs) > 0 {
		fmt.Fprintf(&b, " %s", p.Addrs[0])
	}
	if p.Online {
		b.WriteString(" online")
	} else {
		b.WriteString(" offline")
	}
	switch {
	case p.CurAddr != "":
		fmt.Fprintf(&b, ", direct %s", escape(p.CurAddr))
	case p.Relay != "":
		fmt.Fprintf(&b, ", relay %s", escape(p.Relay))
	}
	return b.String()
}
