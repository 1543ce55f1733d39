package msb_test

import (
	"fmt"
	"log"
	"strings"

	"msb"
)

// The quick start of the package documentation, run as written; only the
// last line is adapted so that its output is stable.
func Example() {
	sandbox := msb.NewPythonSandbox(msb.WithName("my-sandbox"))
	if err := sandbox.Start(msb.StartConfig{Memory: 512, CPUs: 1}); err != nil {
		log.Fatal(err)
	}
	defer sandbox.Stop()

	execution, err := sandbox.Code().Run("print('Hello World')")
	if err != nil {
		log.Fatal(err)
	}
	output, _ := execution.GetOutput()
	fmt.Println(output)

	cmdExec, err := sandbox.Command().Run("ls", []string{"-la"})
	if err != nil {
		log.Fatal(err)
	}
	listing, _ := cmdExec.GetOutput()
	fmt.Println(cmdExec.IsSuccess(), strings.HasPrefix(listing, "total"))

	metrics, err := sandbox.Metrics().All()
	if err != nil {
		log.Fatal(err)
	}
	// The reference prints the numbers, which vary from run to run:
	// fmt.Printf("CPU: %.2f%%, Memory: %d MiB\n", metrics.CPU, metrics.MemoryMiB)
	fmt.Printf("running: %v, CPU >= 0: %v, Memory > 0 MiB: %v\n",
		metrics.IsRunning, metrics.CPU >= 0, metrics.MemoryMiB > 0)
	// Output:
	// Hello World
	// true true
	// running: true, CPU >= 0: true, Memory > 0 MiB: true
}
