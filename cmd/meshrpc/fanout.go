package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meshrpc/meshrpc/node"
	"github.com/meshrpc/meshrpc/rpc"
)

// peerResult is one peer's row of a fan-out.
type peerResult struct {
	Peer       string          `json:"peer"`
	OK         bool            `json:"ok"`
	DurationMs float64         `json:"duration_ms"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	Code       int             `json:"code,omitempty"`
}

// fanOutLimit bounds the calls a fan-out has in flight.
const fanOutLimit = 16

// fanOut calls method on every peer at once (at most fanOutLimit in
// flight), each bounded by its own timeout, so a dead peer costs its timeout
// and no more.
func fanOut(ctx context.Context, c *node.Client, peers []string, method string, params json.RawMessage, timeout time.Duration) []peerResult {
	results := make([]peerResult, len(peers))
	sem := make(chan struct{}, fanOutLimit)
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			var res json.RawMessage
			err := c.Call(cctx, p, method, params, &res)
			r := peerResult{Peer: p, DurationMs: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Error, r.Code = fanOutError(err), rpc.CodeOf(err)
			} else {
				r.OK, r.Result = true, res
			}
			results[i] = r
		})
	}
	wg.Wait()
	return results
}

func fanOutError(err error) string {
	var re *rpc.Error
	if errors.As(err, &re) {
		return re.Message
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer before the timeout"
	}
	return err.Error()
}

// selectPeers names the online peers a fan-out goes to: all, or those with tag.
func selectPeers(ctx context.Context, c *node.Client, all bool, tag string) ([]string, error) {
	_, peers, err := c.Peers(ctx)
	if err != nil {
		return nil, unreachableError{err}
	}
	var names []string
	for _, p := range peers {
		if !p.Online || (!all && !slices.Contains(p.Tags, tag)) {
			continue
		}
		names = append(names, p.Name)
	}
	if len(names) == 0 {
		return nil, unreachableError{fmt.Errorf("no online peer matches%s", tagSuffix(tag))}
	}
	return names, nil
}

func tagSuffix(tag string) string {
	if tag == "" {
		return ""
	}
	return " " + tag
}

// printFanOut prints one row per peer (or, with asJSON, one JSON array) and
// fails with exit status 1 unless every peer succeeded.
func printFanOut(g *globalOptions, results []peerResult, asJSON bool) error {
	if asJSON {
		if err := printJSON(g.stdout, results); err != nil {
			return err
		}
	} else {
		tw := newTable(g.stdout)
		fmt.Fprintln(tw, "PEER\tSTATUS\tTIME\tRESULT")
		for _, r := range results {
			status, out := "ok", oneLine(r.Result, 80)
			if !r.OK {
				status, out = "error", escape(r.Error)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1fms\t%s\n", escape(r.Peer), status, r.DurationMs, out)
		}
		tw.Flush()
	}
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	if failed == len(results) && allUnreachable(results) {
		return silentError{exitUnreachable}
	}
	return silentError{exitCallError}
}

func allUnreachable(results []peerResult) bool {
	for _, r := range results {
		if r.Code != rpc.CodeUnavailable && r.Code != rpc.CodeDeadlineExceeded {
			return false
		}
	}
	return true
}
