package rpc

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
)

type inner struct {
	A int `json:"a"`
	B int `json:"b,omitempty"`
	C int
}

type Other struct {
	D string `json:"d"`
}

type embeds struct {
	inner
	E int `json:"e"`
}

type embedsPointer struct {
	*inner
	E int `json:"e"`
}

type shadows struct {
	inner
	C string `json:"C"` // hides inner.C
}

// conflicts has member a at equal depth twice: encoding/json drops both.
// (Made with reflect, as go vet rejects such a declaration.)
var conflicts = reflect.StructOf([]reflect.StructField{
	{Name: "Inner", Type: reflect.TypeFor[inner](), Anonymous: true},
	{Name: "Other", Type: reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"a"`},
		{Name: "D", Type: reflect.TypeFor[string](), Tag: `json:"d"`},
	}), Anonymous: true},
})

type named struct {
	inner `json:"inner"` // a tag name makes it a member, not flattened
	skip  int
	Gone  int `json:"-"`
}

// TestJSONFieldsAreTheMembersEncodingJSONMakes checks the one reading of
// json tags, used by the binder and the schemas, against encoding/json.
func TestJSONFieldsAreTheMembersEncodingJSONMakes(t *testing.T) {
	for _, v := range []any{
		inner{B: 1}, embeds{inner: inner{B: 1}}, embedsPointer{inner: &inner{B: 1}},
		shadows{inner: inner{B: 1}}, conflictsValue(), named{},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(b, &obj); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for k := range obj {
			want = append(want, k)
		}
		for _, f := range jsonFields(reflect.TypeOf(v)) {
			got = append(got, f.name)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%T: jsonFields names %v, encoding/json makes %v", v, got, want)
		}
	}
}

func TestEmbeddedPointerFieldsAreOptional(t *testing.T) {
	s := schemaOf(reflect.TypeFor[embedsPointer]())
	if req := s["required"].([]string); !slices.Equal(req, []string{"e"}) {
		t.Errorf("required = %v, want [e]: a nil embedded pointer omits its fields", req)
	}
	s = schemaOf(reflect.TypeFor[embeds]())
	if req := s["required"].([]string); !slices.Equal(req, []string{"a", "C", "e"}) {
		t.Errorf("required = %v, want [a C e]", req)
	}
}

func conflictsValue() any {
	v := reflect.New(conflicts).Elem()
	v.Field(0).Field(1).SetInt(1) // B, which is omitted when zero
	return v.Interface()
}
