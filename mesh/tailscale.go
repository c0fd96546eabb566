package mesh

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"tailscale.com/client/local"
	"tailscale.com/ipn"
	"tailscale.com/paths"
)

// DefaultControlURL is Tailscale's coordination server, the one a node
// uses when its config names none.
const DefaultControlURL = ipn.DefaultControlURL

// Tailscale is this machine's own tailscaled, reached through its LocalAPI:
// when it runs and is logged in, a caller needs no node of its own, no
// second login and no state directory. tailscaled dials peers for us, with
// a TUN device or in userspace networking alike.
type Tailscale struct {
	lc         *local.Client
	self       Peer
	controlURL string
}

// tailscaleProbe bounds how long UseTailscale waits for a tailscaled that
// accepted the connection but does not answer: a CLI run must not hang on
// it. (With no tailscaled listening the connection fails at once; 2 s was
// too short for a live one on a loaded machine, and the CLI then went its
// own way instead of through it.)
const tailscaleProbe = 5 * time.Second

// UseTailscale connects to tailscaled's LocalAPI at socket (empty: the
// platform's default) and returns it if it is logged in to the tailnet of
// controlURL (empty: Tailscale's). The error says why it cannot be used.
func UseTailscale(ctx context.Context, socket, controlURL string) (*Tailscale, error) {
	ctx, cancel := context.WithTimeout(ctx, tailscaleProbe)
	defer cancel()
	lc, err := localClient(socket)
	if err != nil {
		return nil, err
	}
	st, err := lc.StatusWithoutPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("no tailscaled answers on this machine (%v)", shortErr(err))
	}
	if st.BackendState != ipn.Running.String() || st.Self == nil || len(st.TailscaleIPs) == 0 {
		return nil, fmt.Errorf("tailscaled is %s, not logged in and running", st.BackendState)
	}
	prefs, err := lc.GetPrefs(ctx)
	if err != nil {
		return nil, fmt.Errorf("tailscaled's prefs: %v", shortErr(err))
	}
	theirs := normalURL(prefs.ControlURL)
	if ours := normalURL(controlURL); theirs != ours {
		return nil, fmt.Errorf("tailscaled is on another tailnet (control server %s, not %s)", theirs, ours)
	}
	return &Tailscale{lc: lc, self: peerFromStatus(st.Self, st.User), controlURL: theirs}, nil
}

// localClient makes a LocalAPI client that fails at once when no
// tailscaled listens: the default one waits for a tailscaled that may be
// starting, which would cost every CLI run two seconds.
func localClient(socket string) (*local.Client, error) {
	if socket == "" {
		socket = paths.DefaultTailscaledSocket()
		if _, err := os.Stat(socket); err != nil && runtime.GOOS == "darwin" {
			// The macOS app has no socket file; let the client find it.
			return &local.Client{}, nil
		}
	}
	if _, err := os.Stat(socket); err != nil {
		return nil, fmt.Errorf("no tailscaled on this machine (no socket %s)", socket)
	}
	return &local.Client{
		Socket:        socket,
		UseSocketOnly: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}, nil
}

func normalURL(u string) string {
	if u == "" {
		return DefaultControlURL
	}
	return strings.TrimSuffix(u, "/")
}

func shortErr(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err.Error()
	}
	return err.Error()
}

// Self is this machine's node as tailscaled says.
func (t *Tailscale) Self() Peer { return t.self }

// ControlURL is the control server tailscaled is logged in to.
func (t *Tailscale) ControlURL() string { return t.controlURL }

// Peers lists the tailnet's other nodes, sorted by name.
func (t *Tailscale) Peers(ctx context.Context) ([]Peer, error) {
	_, peers, err := peersOf(ctx, t.lc)
	return peers, err
}

// Dial connects to addr ("home:4343" or "100.64.0.2:4343") through
// tailscaled. Names resolve in the tailnet map; an address outside the
// tailnet is refused rather than dialled from this machine.
func (t *Tailscale) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s: bad port", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip, err = resolveIn(ctx, t.lc, host)
	} else {
		err = checkOnTailnet(ctx, t.lc, ip)
	}
	if err != nil {
		return nil, err
	}
	c, err := t.lc.UserDial(ctx, network, ip.String(), uint16(port))
	if err != nil {
		return nil, fmt.Errorf("mesh: dial %s through tailscaled: %w", addr, err)
	}
	return c, nil
}

// Ping is a disco ping through tailscaled; see Node.Ping.
func (t *Tailscale) Ping(ctx context.Context, addr netip.Addr) (Ping, error) {
	return ping(ctx, t.lc, addr)
}
