package api_test

import (
	"encoding/json"
	"testing"

	"github.com/meshrpc/meshrpc/node/api"
)

// Encode writes what encoding/json writes for a compact value, compacts one
// that is not, and passes an invalid one on for the node to refuse.
func TestPutParamsEncode(t *testing.T) {
	for _, p := range []api.PutParams{
		{Key: "a", Value: json.RawMessage(`{"x":[1,2]}`)},
		{Key: "<k>&\"q\"", Value: json.RawMessage(`"v"`)},
		{Key: "b", Value: json.RawMessage(`{ "x" : 1 }`)},
	} {
		want, _ := json.Marshal(p)
		if got := p.Encode(); string(got) != string(want) {
			t.Errorf("Encode(%+v) = %s; encoding/json writes %s", p, got, want)
		}
	}
	if got := (api.PutParams{Key: "c", Value: json.RawMessage(`{bad`)}).Encode(); json.Valid(got) {
		t.Errorf("an invalid value encoded as valid JSON: %s", got)
	}
}
