package store_test

import (
	"fmt"

	"github.com/meshrpc/meshrpc/store"
)

// Inc is atomic: an absent key counts as 0. Open a file with store.Open for
// writes that survive a crash; OpenInMemory is for tests and demos.
func ExampleStore_Inc() {
	s, err := store.OpenInMemory()
	if err != nil {
		panic(err)
	}
	defer s.Close()
	s.Inc("visits", 1)
	v, _, _ := s.Inc("visits", 41)
	fmt.Println(v)
	e, ok, _ := s.Get("visits")
	fmt.Println(string(e.Value), ok)
	// Output:
	// 42
	// 42 true
}
