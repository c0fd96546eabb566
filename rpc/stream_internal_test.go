package rpc

import (
	"bytes"
	"strings"
	"testing"
)

func TestPackRepliesFlattensBatches(t *testing.T) {
	q := make(chan []byte, 4)
	q <- []byte(`[{"id":2},{"id":3}]`)
	q <- []byte(`{"id":4}`)
	msg, n, _, _ := packReplies([]byte(`{"id":1}`), q, nil)
	if want := `[{"id":1},{"id":2},{"id":3},{"id":4}]`; string(msg) != want || n != 3 {
		t.Fatalf("packed %s (%d replies), want %s (3)", msg, n, want)
	}
	msg, n, _, _ = packReplies([]byte(`{"id":5}`), q, nil)
	if string(msg) != `{"id":5}` || n != 1 {
		t.Fatalf("a lone reply was changed: %s (%d)", msg, n)
	}
}

func TestPackRepliesSendsLargeRepliesAlone(t *testing.T) {
	q := make(chan []byte, 4)
	large := []byte(`{"id":3,"result":"` + strings.Repeat("x", maxPackedReply) + `"}`)
	q <- []byte(`{"id":2}`)
	q <- large
	q <- []byte(`{"id":4}`)
	msg, n, held, _ := packReplies([]byte(`{"id":1}`), q, nil)
	if string(msg) != `[{"id":1},{"id":2}]` || n != 2 || !bytes.Equal(held, large) {
		t.Fatalf("packed %s (%d replies), held %.20s", msg, n, held)
	}
}
