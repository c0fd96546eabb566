package mesh

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
)

// waitRunning watches the node's IPN bus until it is running. It shows the
// login URL when one is needed, fails at once when control refuses the node
// (a bad or expired auth key), and fails after ControlTimeout when control
// has given no sign of life at all. loggedIn reports whether a person logged
// in through a URL.
func (n *Node) waitRunning(ctx context.Context, errs *lastError) (loggedIn bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := n.lc.WatchIPNBus(ctx, ipn.NotifyInitialState)
	if err != nil {
		return false, fmt.Errorf("mesh: watch tailscale state: %w", err)
	}
	defer w.Close()
	notes, watchErr := notifications(ctx, w)

	silence := time.NewTimer(n.cfg.ControlTimeout)
	defer silence.Stop()
	shownURL := ""
	for {
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("mesh: joining the tailnet at %s: %w", n.controlName(), ctx.Err())
		case err := <-watchErr:
			return false, fmt.Errorf("mesh: watch tailscale state: %w", err)
		case <-silence.C:
			return false, fmt.Errorf("mesh: no answer from the control server %s after %s; check the control URL (Config.ControlURL, $MESHRPC_CONTROL_URL, meshrpc --control-url) and this machine's network%s",
				n.controlName(), n.cfg.ControlTimeout, errs.suffix())
		case nt := <-notes:
			if nt.ErrMessage != nil {
				return false, fmt.Errorf("mesh: the control server %s refused this node: %s (is the auth key valid and unexpired?)",
					n.controlName(), *nt.ErrMessage)
			}
			if url := n.loginURL(ctx, nt); url != "" && url != shownURL {
				shownURL = url
				silence.Stop() // control answered; now we wait for the person
				fmt.Fprintf(n.cfg.Progress, "\nmeshrpc: to add %s to your tailnet, open this URL in a browser:\n\n\t%s\n\nmeshrpc: waiting for the login to complete...\n", n.cfg.Hostname, url)
			}
			if nt.State == nil {
				continue
			}
			switch *nt.State {
			case ipn.NeedsMachineAuth:
				silence.Stop()
				fmt.Fprintf(n.cfg.Progress, "meshrpc: %s is waiting for a tailnet admin to approve it\n", n.cfg.Hostname)
			case ipn.Running:
				return shownURL != "", nil
			}
		}
	}
}

// notifications passes on w's notes until ctx ends, and w's error if it
// fails first.
func notifications(ctx context.Context, w *local.IPNBusWatcher) (<-chan ipn.Notify, <-chan error) {
	notes := make(chan ipn.Notify)
	watchErr := make(chan error, 1)
	go func() {
		for {
			nt, err := w.Next()
			if err != nil {
				watchErr <- err
				return
			}
			select {
			case notes <- nt:
			case <-ctx.Done():
				return
			}
		}
	}()
	return notes, watchErr
}

// loginURL is the URL a person must open to log the node in, as nt says or,
// when nt says a login is needed without one, as the node's status says;
// "" when there is none.
func (n *Node) loginURL(ctx context.Context, nt ipn.Notify) string {
	if nt.BrowseToURL != nil && *nt.BrowseToURL != "" {
		return *nt.BrowseToURL
	}
	if nt.State != nil && *nt.State == ipn.NeedsLogin {
		if st, err := n.lc.StatusWithoutPeers(ctx); err == nil {
			return st.AuthURL
		}
	}
	return ""
}

func (n *Node) controlName() string {
	if n.cfg.ControlURL == "" {
		return "(Tailscale's default)"
	}
	return n.cfg.ControlURL
}

// lastError passes log lines through and remembers the last error the
// backend reported, so that a timeout can say what went wrong.
type lastError struct {
	logf func(format string, args ...any)
	mu   sync.Mutex
	last string
}

func (e *lastError) Printf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if i := strings.Index(line, "Received error: "); i >= 0 {
		e.mu.Lock()
		e.last = strings.TrimSpace(line[i+len("Received error: "):])
		e.mu.Unlock()
	}
	e.logf("%s", line)
}

func (e *lastError) suffix() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.last == "" {
		return ""
	}
	return " (last error: " + e.last + ")"
}
