package devnet

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"tailscale.com/derp/derpserver"
	"tailscale.com/tailcfg"
	"tailscale.com/tstest/integration/testcontrol"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
)

// MagicDNSDomain is the tailnet domain of every devnet: a node named "home"
// is also "home.meshrpc.test".
const MagicDNSDomain = "meshrpc.test"

// Config configures a devnet. The zero value is a tailnet on random loopback
// ports where every node belongs to one user, like one person's devices.
type Config struct {
	// Listen is the control server's address; default "127.0.0.1:0".
	// It must be a loopback address.
	Listen string

	// SeparateUsers gives every node a user of its own
	// ("user-N@fake-control.example.net") instead of one shared user.
	SeparateUsers bool

	// AuthKey, if set, is the only auth key the control server accepts;
	// nodes joining with another are refused.
	AuthKey string

	// InteractiveLogin makes nodes without an auth key log in through a URL,
	// completed with [Net.CompleteLogin], as with a real control server.
	InteractiveLogin bool

	// Logf receives the control and DERP servers' logs; nil discards them.
	Logf func(format string, args ...any)
}

// Net is a running local tailnet. Close stops it.
type Net struct {
	control *testcontrol.Server
	http    *http.Server
	ln      net.Listener
	derp    *derpserver.Server
	derpWeb *httptest.Server
	stun    *stunServer
	url     string

	grantsMu sync.Mutex
	grants   tailcfg.PeerCapMap // the control server keeps a reference: replace, never mutate

	// nodesMu orders this package's writes of the control server's nodes
	// (retirements, liveness) after the map requests that update them: see
	// holdMapRequest.
	nodesMu      sync.RWMutex
	polls        map[key.NodePublic]int         // streaming map polls open, by node
	goingOffline map[key.NodePublic]*time.Timer // nodes without a poll, marked offline when it fires
	closed       bool

	closeOnce sync.Once
}

// Start runs a devnet until Close.
func Start(cfg Config) (_ *Net, err error) {
	logf := logger.Discard
	if cfg.Logf != nil {
		logf = cfg.Logf
	}
	listen := cfg.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if err := checkLoopback(listen); err != nil {
		return nil, err
	}

	n := &Net{}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	if n.stun, err = listenSTUN("127.0.0.1:0"); err != nil {
		return nil, err
	}
	if err := n.startDERP(logf); err != nil {
		return nil, err
	}

	n.ln, err = net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("devnet: listen for control on %s: %w", listen, err)
	}
	n.url = "http://" + n.ln.Addr().String()
	n.control = &testcontrol.Server{
		DERPMap:          n.derpMap(),
		DNSConfig:        &tailcfg.DNSConfig{Proxied: true},
		MagicDNSDomain:   MagicDNSDomain,
		AllNodesSameUser: !cfg.SeparateUsers,
		// A non-nil TagOwners makes the control server honour the tags a
		// node asks for when it registers (tsnet's AdvertiseTags).
		TagOwners:       map[string][]string{},
		RequireAuthKey:  cfg.AuthKey,
		RequireAuth:     cfg.InteractiveLogin,
		ExplicitBaseURL: n.url,
		Logf:            logf,
	}
	n.control.HoldMapRequest = n.holdMapRequest
	n.http = &http.Server{
		Handler:  n.control,
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go n.http.Serve(n.ln)
	return n, nil
}

func (n *Net) startDERP(logf logger.Logf) error {
	n.derp = derpserver.New(key.NewNode(), logf)
	n.derpWeb = httptest.NewUnstartedServer(derpserver.AddWebSocketSupport(n.derp, derpserver.Handler(n.derp)))
	n.derpWeb.Config.ErrorLog = log.New(io.Discard, "", 0)
	// DERP speaks HTTP/1.1 upgrades only.
	n.derpWeb.Config.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	n.derpWeb.StartTLS()
	return nil
}

func (n *Net) derpMap() *tailcfg.DERPMap {
	derpPort := n.derpWeb.Listener.Addr().(*net.TCPAddr).Port
	return &tailcfg.DERPMap{
		Regions: map[int]*tailcfg.DERPRegion{
			1: {
				RegionID:   1,
				RegionCode: "devnet",
				RegionName: "devnet (127.0.0.1)",
				Nodes: []*tailcfg.DERPNode{{
					Name:             "1a",
					RegionID:         1,
					HostName:         "127.0.0.1",
					IPv4:             "127.0.0.1",
					IPv6:             "none",
					STUNPort:         n.stun.port(),
					DERPPort:         derpPort,
					InsecureForTests: true, // self-signed; traffic never leaves loopback
					STUNTestIP:       "127.0.0.1",
				}},
			},
		},
	}
}

// ControlURL is the URL nodes use as their control server
// (mesh.Config.ControlURL, meshrpc --control-url).
func (n *Net) ControlURL() string { return n.url }

// CompleteLogin completes the interactive login at url (as shown to the
// person joining) as if they had logged in. It reports whether url was a
// pending login of this devnet.
func (n *Net) CompleteLogin(url string) bool { return n.control.CompleteAuth(url) }

// Control is the underlying test control server, for tests that need its
// finer knobs.
func (n *Net) Control() *testcontrol.Server { return n.control }

// Grant gives every node the app capability capName with the given values on
// every other node, like a tailnet policy grant from "*" to "*". Each value is
// marshalled to JSON. Grant with no values removes the capability. Nodes see
// the change within seconds, without a restart.
func (n *Net) Grant(capName string, values ...any) error {
	var raw []tailcfg.RawMessage
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("devnet: grant %s: %w", capName, err)
		}
		raw = append(raw, tailcfg.RawMessage(b))
	}
	n.grantsMu.Lock()
	defer n.grantsMu.Unlock()
	grants := maps.Clone(n.grants)
	if grants == nil {
		grants = tailcfg.PeerCapMap{}
	}
	if len(raw) == 0 {
		delete(grants, tailcfg.PeerCapability(capName))
	} else {
		grants[tailcfg.PeerCapability(capName)] = raw
	}
	n.grants = grants
	n.control.SetGlobalAppCaps(grants)
	return nil
}

// Close stops the control, DERP and STUN servers. It is idempotent.
func (n *Net) Close() error {
	var errs []error
	n.closeOnce.Do(func() {
		n.stopLiveness()
		if n.http != nil {
			errs = append(errs, ignoreClosed(n.http.Close()))
		}
		if n.derpWeb != nil {
			n.derpWeb.CloseClientConnections()
			n.derpWeb.Close()
		}
		if n.derp != nil {
			errs = append(errs, n.derp.Close())
		}
		if n.stun != nil {
			errs = append(errs, n.stun.Close())
		}
	})
	return errors.Join(errs...)
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("devnet: listen address %q: %w", hostport, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("devnet: listen address %q is not a loopback address: a devnet never leaves this machine (use 127.0.0.1:PORT)", hostport)
	}
	return nil
}
