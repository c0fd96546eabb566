// Package jsonfast holds meshrpc's hand-written JSON fast paths: the few
// scans and encoders a call's envelope needs, written to cross a large
// value with vectorised searches (bytes.IndexByte, eight bytes at a time)
// instead of encoding/json's byte-at-a-time state machine and reflection.
// Nothing else in meshrpc scans or writes JSON by hand.
//
// # Contract
//
// Every function here agrees with encoding/json or declines:
//
//   - Valid, Check and ValidDepth agree with json.Valid on every input
//     (Check's compact with json.Compact leaving its input unchanged, and
//     ValidDepth's depth with the nesting of encoding/json's tokens).
//   - The decoders (SplitArray, SplitObject, EachMember, Member,
//     PlainString, PlainInt, StringEnd's plain) either give what
//     json.Unmarshal gives for the same input or report false, and the
//     caller then asks encoding/json, which decides and says what is wrong.
//     Their input must be valid JSON (checked with Valid, or json.Valid,
//     first): they check the structure they walk, not every byte they skip,
//     so on invalid input they never panic but may accept it. A caller that
//     cannot validate first (a reply read by a client) must validate what
//     it keeps, as rpc does when it decodes a result into the caller's type.
//   - The encoders (AppendString, AppendStrings, AppendFloat) write the
//     bytes json.Marshal writes for the same value.
//
// fuzz_test.go holds each entry point to this against encoding/json;
// BenchmarkVersusEncodingJSON shows what each buys. The day encoding/json
// (or json/v2) is as fast for these shapes, this package and its callers'
// fast branches can go: every caller already falls back to encoding/json.
package jsonfast
