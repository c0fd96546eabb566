package rpc

import (
	"strings"
	"testing"
)

func TestPackWriterPacksSmallMessagesAndSendsLargeOnesAlone(t *testing.T) {
	large := `{"id":4,"result":"` + strings.Repeat("x", maxPackedMessage) + `"}`
	w := &packWriter{}
	for _, m := range []string{`{"id":1}`, `[{"id":2},{"id":3}]`, large, `{"id":5}`} {
		w.queue = append(w.queue, []byte(m))
	}
	for _, want := range []struct {
		msg string
		n   int
	}{
		{`[{"id":1},{"id":2},{"id":3}]`, 2}, // a batch's replies flattened
		{large, 1},
		{`{"id":5}`, 1}, // a lone message unchanged
	} {
		msg, n, _ := w.take()
		if string(msg) != want.msg || n != want.n {
			t.Fatalf("took %.40s (%d messages), want %.40s (%d)", msg, n, want.msg, want.n)
		}
	}
	if len(w.queue) != 0 {
		t.Fatalf("left %d", len(w.queue))
	}
}
