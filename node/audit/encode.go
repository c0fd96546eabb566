package audit

import (
	"math"
	"strconv"
	"time"

	"github.com/meshrpc/meshrpc/internal/jsonfast"
)

// appendRecord appends r as encoding/json would marshal it, without its
// reflection: a node writes one record per call.
func appendRecord(b []byte, r Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, "call_id", r.CallID)
	b = appendField(b, "node", r.Node)
	b = appendField(b, "login", r.Login)
	if len(r.Tags) > 0 {
		b = jsonfast.AppendStrings(append(b, `,"tags":`...), r.Tags)
	}
	b = appendField(b, "addr", r.Addr)
	b = appendField(b, "method", r.Method)
	b = appendField(b, "key", r.Key)
	b = appendField(b, "outcome", r.Outcome)
	if r.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	b = appendField(b, "error", r.Error)
	if r.DurationMs != 0 {
		b = append(b, `,"duration_ms":`...)
		b = appendFloat(b, r.DurationMs)
	}
	if r.Replayed {
		b = append(b, `,"replayed":true`...)
	}
	if r.Dropped != 0 {
		b = append(b, `,"dropped":`...)
		b = strconv.AppendInt(b, r.Dropped, 10)
	}
	return append(b, '}')
}

// appendField appends a string member, omitted when empty (omitempty).
func appendField(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return jsonfast.AppendString(b, s)
}

// appendFloat appends f as encoding/json does; for NaN and infinities
// (which it refuses, and a duration never is): null.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return jsonfast.AppendFloat(b, f)
}

// appendCallLine appends r as the line slog's TextHandler writes for the
// call log: time (to the millisecond), level, msg, then the call's
// attributes, values quoted where slog would quote them (or more often).
func appendCallLine(b []byte, r Record) []byte {
	b = append(b, "time="...)
	b = r.Time.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=call call_id="...)
	b = appendText(b, r.CallID)
	caller := r.Node
	if caller == "" {
		caller = r.Login
	}
	b = append(b, " caller="...)
	b = appendText(b, caller)
	b = append(b, " login="...)
	b = appendText(b, r.Login)
	b = append(b, " method="...)
	b = appendText(b, r.Method)
	b = append(b, " duration="...)
	b = append(b, (time.Duration(math.Round(r.DurationMs*1e3)) * time.Microsecond).String()...)
	b = append(b, " code="...)
	b = strconv.AppendInt(b, int64(r.Code), 10)
	b = append(b, " outcome="...)
	if r.Code == 0 {
		b = append(b, "ok"...)
	} else {
		b = appendText(b, r.Error)
	}
	b = append(b, " replayed="...)
	b = strconv.AppendBool(b, r.Replayed)
	return append(b, '\n')
}

// appendText appends s bare, or quoted when it is empty or has a space, an
// equals sign, a quote, a control character or anything not ASCII.
func appendText(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '=' || c == '"' || c >= 0x7f {
			return strconv.AppendQuote(b, s)
		}
	}
	return append(b, s...)
}
