package command_test

import (
	"fmt"

	"github.com/meshrpc/meshrpc/node/command"
)

// Split splits like a shell and expands nothing; what a shell would act on
// must be quoted.
func ExampleSplit() {
	words, _ := command.Split(`grep -n 'two words' '$(not run)' file.txt`)
	fmt.Printf("%q\n", words)
	_, err := command.Split(`ls | wc -l`)
	fmt.Println(err != nil)
	// Output:
	// ["grep" "-n" "two words" "$(not run)" "file.txt"]
	// true
}
