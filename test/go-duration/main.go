// Prints Go's canonical form (time.Duration.String) of each duration on stdin, one per
// line: what the docker provider stores. Used by test/unit/durations.test.ts.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		d, err := time.ParseDuration(in.Text())
		if err != nil {
			fmt.Println("ERROR " + err.Error())
			continue
		}
		fmt.Println(d.String())
	}
}
