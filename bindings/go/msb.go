// Package msb runs untrusted code in Linux sandboxes through libmsb, the
// msb C library, with the surface of the microsandbox Go SDK.
//
// Sandboxes are safe for concurrent use from many goroutines: commands, code
// and file operations run at the same time in one sandbox.
//
// # Quick Start
//
// Create a Python sandbox:
//
//	sandbox := msb.NewPythonSandbox(msb.WithName("my-sandbox"))
//	if err := sandbox.Start(msb.StartConfig{Memory: 512, CPUs: 1}); err != nil {
//		log.Fatal(err)
//	}
//	defer sandbox.Stop()
//
// Execute Python code:
//
//	execution, err := sandbox.Code().Run("print('Hello World')")
//	if err != nil {
//		log.Fatal(err)
//	}
//	output, _ := execution.GetOutput()
//	fmt.Println(output)
//
// Run shell commands:
//
//	cmdExec, err := sandbox.Command().Run("ls", []string{"-la"})
//	if err != nil {
//		log.Fatal(err)
//	}
//
// Monitor resource usage:
//
//	metrics, err := sandbox.Metrics().All()
//	if err != nil {
//		log.Fatal(err)
//	}
//	fmt.Printf("CPU: %.2f%%, Memory: %d MiB\n", metrics.CPU, metrics.MemoryMiB)
//
// # Differences from the microsandbox SDK
//
// There is no server: sandboxes are started in-process by libmsb, on the
// host's own system directories (read-only) instead of container images.
// See StartConfig for which fields are honoured; a field that cannot be
// honoured makes Start fail with a *ConfigError naming it. Execution results
// carry typed fields instead of the server's raw JSON.
//
// Beyond the reference: context variants (RunContext, Exec, RunCode) whose
// cancellation stops the work inside the sandbox, streaming to io.Writers,
// files (Files), background processes and terminals (StartProcess, OpenPTY),
// named long-lived sandboxes (WithDetached, Connect, List), a choice of
// backend (WithBackend), and typed libmsb errors (*Error).
//
// # Finding libmsb
//
// By default the package links the libmsb of this source tree (build/lib,
// after `make` at the top of the repository) with an rpath. To use an
// installed libmsb instead (`make install`), build with -tags msb_pkgconfig:
// cgo then asks pkg-config for msb (set PKG_CONFIG_PATH for a custom
// prefix). libmsb finds its msb-agent next to itself, or at $MSB_AGENT_PATH.
package msb

import "context"

// Core sandbox interfaces, as in the reference SDK. The runners also have
// context variants.
type (
	// Starter manages sandbox lifecycle startup.
	Starter interface {
		// Start initializes the sandbox with the specified configuration.
		// If Memory <= 0, defaults to 512 (MiB). If CPUs <= 0, defaults to 1.
		Start(config StartConfig) error
	}

	// Stopper manages sandbox lifecycle shutdown.
	Stopper interface {
		// Stop terminates the sandbox and releases its resources.
		Stop() error
	}

	// CodeRunner executes code in the sandbox's REPL environment.
	CodeRunner interface {
		// Run executes the provided code and returns detailed execution
		// results. The sandbox must be started before calling this method.
		Run(code string) (CodeExecution, error)
		// RunContext is Run, interrupted when ctx is done.
		RunContext(ctx context.Context, code string) (CodeExecution, error)
	}

	// CommandRunner executes commands in the sandbox (no shell involved).
	CommandRunner interface {
		// Run executes a command with the given arguments. The sandbox must
		// be started before calling this method.
		Run(cmd string, args []string) (CommandExecution, error)
		// RunContext is Run; the command is killed when ctx is done.
		RunContext(ctx context.Context, cmd string, args []string) (CommandExecution, error)
	}

	// MetricsReader provides access to sandbox resource metrics.
	MetricsReader interface {
		// All returns comprehensive metrics for the sandbox.
		All() (Metrics, error)
		// CPU returns current CPU usage as a percentage (100 = one CPU).
		CPU() (float64, error)
		// MemoryMiB returns current memory usage in mebibytes.
		MemoryMiB() (int, error)
		// DiskBytes returns current disk usage in bytes.
		DiskBytes() (int, error)
		// IsRunning reports whether the sandbox is currently running.
		IsRunning() (bool, error)
	}

	// LangSandBox is a sandbox for one programming language.
	LangSandBox interface {
		Starter
		Stopper
		Code() CodeRunner
		Command() CommandRunner
		Metrics() MetricsReader
	}
)

var _ LangSandBox = (*Sandbox)(nil)
