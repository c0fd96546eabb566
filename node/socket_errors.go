package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/meshrpc/meshrpc/mesh"
)

// A CONNECT through the local socket that the tailnet map refuses (no such
// node, an offline one) carries the typed error in a header besides its
// text, so that a client calling through a serving node gets the same
// errors.Is-able values as one with a tailnet node of its own.
const (
	headerOffline = "Meshrpc-Node-Offline" // a mesh.OfflineError, as JSON
	headerNoNode  = "Meshrpc-No-Node"      // a mesh.NoNodeError, as JSON
)

// setDialError puts the typed part of a failed dial in h.
func setDialError(h http.Header, err error) {
	var oe *mesh.OfflineError
	var ne *mesh.NoNodeError
	switch {
	case errors.As(err, &oe):
		b, _ := json.Marshal(oe)
		h.Set(headerOffline, string(b))
	case errors.As(err, &ne):
		b, _ := json.Marshal(ne)
		h.Set(headerNoNode, string(b))
	}
}

// dialError is the error of a refused CONNECT: the typed one when the
// serving node sent it, else msg.
func dialError(h http.Header, addr, msg string) error {
	if v := h.Get(headerOffline); v != "" {
		var oe mesh.OfflineError
		if json.Unmarshal([]byte(v), &oe) == nil {
			return &oe
		}
	}
	if v := h.Get(headerNoNode); v != "" {
		var ne mesh.NoNodeError
		if json.Unmarshal([]byte(v), &ne) == nil {
			return &ne
		}
	}
	return fmt.Errorf("node: connecting to %s through the serving node: %s", addr, msg)
}
