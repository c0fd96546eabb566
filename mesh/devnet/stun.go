package devnet

import (
	"errors"
	"net"
	"net/netip"

	"tailscale.com/net/stun"
)

// stunServer answers STUN binding requests on a loopback UDP port, so that
// nodes learn their 127.0.0.1 endpoints and talk directly, not via DERP.
//
// It is ten lines of tailscale.com/net/stun rather than net/stunserver
// because that package writes to the process-wide log on start, which
// `meshrpc demo` must not print.
type stunServer struct {
	pc   *net.UDPConn
	done chan struct{}
}

func listenSTUN(addr string) (*stunServer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	s := &stunServer{pc: pc, done: make(chan struct{})}
	go s.serve()
	return s, nil
}

func (s *stunServer) port() int { return s.pc.LocalAddr().(*net.UDPAddr).Port }

func (s *stunServer) serve() {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		txid, err := stun.ParseBindingRequest(buf[:n])
		if err != nil {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.pc.WriteToUDPAddrPort(stun.Response(txid, from), from)
	}
}

func (s *stunServer) Close() error {
	err := s.pc.Close()
	<-s.done
	return err
}
