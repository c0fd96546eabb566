package mesh

import (
	"io"
	"net"
	"sync"
	"time"
)

// finWait bounds how long Close waits for the peer to close its side.
const finWait = 250 * time.Millisecond

// cleanCloseConn is a tailnet connection that closes the way that leaves
// the peer nothing to resend; Dial and Listen give only such connections.
// A plain Close lets both sides close at once; if this process then exits,
// the peer's TCP keeps resending its FIN for a while. When this node's next process starts (the CLI runs as one process
// per command), the peer sees a new disco key, resets the WireGuard session,
// and such a pending packet makes it start a handshake at the very moment
// this node starts one. The two handshakes cross and both fail, which costs
// WireGuard's 5 s retry. Sending our FIN first and waiting for the peer's
// (our stack ACKs it at once) ends the connection on both sides.
type cleanCloseConn struct {
	net.Conn
	once sync.Once
	err  error
}

type closeWriter interface{ CloseWrite() error }

func cleanClose(c net.Conn) net.Conn {
	if _, ok := c.(closeWriter); !ok {
		return c
	}
	return &cleanCloseConn{Conn: c}
}

func (c *cleanCloseConn) Close() error {
	c.once.Do(func() {
		if c.Conn.(closeWriter).CloseWrite() == nil {
			c.Conn.SetReadDeadline(time.Now().Add(finWait))
			io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20)) // until the peer's FIN
		}
		c.err = c.Conn.Close()
	})
	return c.err
}

// cleanCloseListener accepts connections that close cleanly, so that a
// node that stops (or restarts) leaves its callers nothing to resend either.
type cleanCloseListener struct{ net.Listener }

func (l cleanCloseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return cleanClose(c), nil
}
