package rpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// request is one JSON-RPC request as decoded from the wire. ID is nil when
// the member is absent (a notification) and "null" when it is null.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	// Meta carries, on a stream, what POST carries in headers: the call id
	// and the caller's remaining time. Other servers ignore the member.
	Meta *requestMeta `json:"meshrpc,omitempty"`

	err *Error // set when the request is invalid: answered with this error
}

func (r *request) isNotification() bool { return r.ID == nil && r.err == nil }

// requestMeta is the "meshrpc" member of a request sent on a stream.
type requestMeta struct {
	CallID    string `json:"call_id,omitempty"`
	TimeoutMs int64  `json:"timeout_ms,omitempty"`
}

var nullID = json.RawMessage("null")

// decodeBody splits a request body into requests. A body that cannot be
// answered request by request (not JSON, too deep, an empty batch) gives a
// single error; batch is true when the body was an array.
func decodeBody(body []byte, maxDepth, maxBatch int) (reqs []request, batch bool, err *Error) {
	if !utf8.Valid(body) {
		return nil, false, &Error{Code: CodeParseError, Message: "parse error: the request body is not valid UTF-8"}
	}
	depth, valid := jsonfast.ValidDepth(body)
	if !valid {
		return nil, false, &Error{Code: CodeParseError, Message: "parse error: the request body is not valid JSON" + syntaxHint(body)}
	}
	if depth > maxDepth {
		return nil, false, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: JSON nested %d deep, more than the limit of %d", depth, maxDepth)}
	}
	body = bytes.TrimSpace(body)
	switch body[0] {
	case '{':
		return []request{decodeRequest(body)}, false, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, false, &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}
		}
		if len(items) == 0 {
			return nil, false, &Error{Code: CodeInvalidRequest, Message: "invalid request: empty batch"}
		}
		if len(items) > maxBatch {
			return nil, false, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: batch of %d requests, more than the limit of %d", len(items), maxBatch)}
		}
		reqs = make([]request, len(items))
		for i, item := range items {
			reqs[i] = decodeRequest(item)
		}
		return reqs, true, nil
	default:
		return []request{{err: &Error{Code: CodeInvalidRequest, Message: "invalid request: expected a request object or a batch array, got " + jsonKind(body)}}}, false, nil
	}
}

func decodeRequest(raw []byte) request {
	var r request
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		r.err = &Error{Code: CodeInvalidRequest, Message: "invalid request: expected a request object, got " + jsonKind(raw)}
		return r
	}
	if !decodePlainRequest(raw, &r) {
		r = request{}
		if err := json.Unmarshal(raw, &r); err != nil {
			r.ID = nil
			r.err = &Error{Code: CodeInvalidRequest, Message: "invalid request: " + fieldProblem(err)}
			return r
		}
	}
	switch {
	case r.ID != nil && !validID(r.ID):
		r.err = &Error{Code: CodeInvalidRequest, Message: "invalid request: id must be a string, a number or null, not " + jsonKind(r.ID)}
		r.ID = nil
	case r.JSONRPC != "2.0":
		r.err = &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: jsonrpc must be \"2.0\", got %q", r.JSONRPC)}
	case r.Method == "":
		r.err = &Error{Code: CodeInvalidRequest, Message: "invalid request: method is missing or empty"}
	case r.Params != nil && !(r.Params[0] == '{' || r.Params[0] == '[' || string(r.Params) == "null"):
		r.err = &Error{Code: CodeInvalidRequest, Message: "invalid request: params must be an object or an array, not " + jsonKind(r.Params)}
	}
	return r
}

// decodePlainRequest decodes the common request, whose members are exactly
// the protocol's, with plain values, without encoding/json's reflection.
// It reports false for anything else (an unknown or differently cased
// member, an escaped string, a value of another type), and decodeRequest
// then lets encoding/json decide, so the two always agree (FuzzDecodeRequest).
func decodePlainRequest(raw []byte, r *request) bool {
	// id and params keep pointing into raw: a copy, so that a handler still
	// running after its deadline was answered never reads a pooled buffer
	// that the next request has overwritten.
	raw = bytes.Clone(raw)
	return jsonfast.EachMember(raw, func(key, v []byte) bool {
		ok := true
		switch string(key) {
		case "jsonrpc":
			r.JSONRPC, ok = jsonfast.PlainString(v)
		case "id":
			r.ID = json.RawMessage(v)
		case "method":
			r.Method, ok = jsonfast.PlainString(v)
		case "params":
			r.Params = json.RawMessage(v)
		case "meshrpc":
			r.Meta, ok = plainMeta(v)
		default:
			ok = false
		}
		return ok
	})
}

func plainMeta(raw []byte) (*requestMeta, bool) {
	m := &requestMeta{}
	ok := jsonfast.EachMember(raw, func(key, v []byte) bool {
		ok := true
		switch string(key) {
		case "call_id":
			m.CallID, ok = jsonfast.PlainString(v)
		case "timeout_ms":
			m.TimeoutMs, ok = jsonfast.PlainInt(v)
		default:
			ok = false
		}
		return ok
	})
	return m, ok
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

func fieldProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("member %q must be %s, not %s", te.Field, kindOfGo(te.Type.Kind().String()), "a "+te.Value)
	}
	return err.Error()
}

func kindOfGo(k string) string {
	if k == "string" {
		return "a string"
	}
	return k
}

func syntaxHint(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return " (" + se.Error() + " at byte " + strconv.FormatInt(se.Offset, 10) + ")"
	}
	if err != nil {
		return " (" + err.Error() + ")"
	}
	return ""
}

// appendEnvelope appends a response's opening: its version and id.
func appendEnvelope(buf []byte, id json.RawMessage) []byte {
	if id == nil {
		id = nullID
	}
	buf = append(buf, `{"jsonrpc":"2.0","id":`...)
	return append(buf, id...)
}

// appendResponse appends the JSON-RPC response for id to buf: a result when
// rpcErr is nil, else the error.
func appendResponse(buf []byte, id json.RawMessage, result []byte, rpcErr *Error) []byte {
	buf = appendEnvelope(buf, id)
	if rpcErr != nil {
		buf = append(buf, `,"error":`...)
		eb, err := json.Marshal(rpcErr)
		if err != nil { // Data that does not marshal
			eb, _ = json.Marshal(&Error{Code: rpcErr.Code, Message: rpcErr.Message})
		}
		buf = append(buf, eb...)
	} else {
		buf = append(buf, `,"result":`...)
		buf = append(buf, result...)
	}
	return append(buf, '}')
}
