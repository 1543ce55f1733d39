package msb_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"msb"
)

// skipReason is set by TestMain when this host cannot run sandboxes.
var skipReason string

func TestMain(m *testing.M) {
	sb := msb.NewPythonSandbox()
	if err := sb.Start(msb.StartConfig{}); err != nil {
		var me *msb.Error
		if errors.As(err, &me) && (me.Code == msb.CodeSpawn || me.Code == msb.CodePermission ||
			me.Code == msb.CodeUnsupported) {
			skipReason = "this host cannot run sandboxes: " + err.Error()
		} else {
			fmt.Fprintln(os.Stderr, "msb: cannot start a sandbox:", err)
			os.Exit(1)
		}
	} else {
		sb.Close()
	}
	os.Exit(m.Run())
}

func need(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// started returns a started sandbox, closed at the end of the test.
func started(t testing.TB, opts ...msb.Option) *msb.Sandbox {
	t.Helper()
	need(t)
	sb := msb.NewPythonSandbox(opts...)
	if err := sb.Start(msb.StartConfig{}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	return sb
}

func TestVersion(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(msb.Version()) {
		t.Fatalf("Version() = %q", msb.Version())
	}
}

func TestDefaultName(t *testing.T) {
	a, b := msb.NewPythonSandbox(), msb.NewNodeSandbox()
	re := regexp.MustCompile(`^sandbox-[0-9a-f]{8}$`)
	if !re.MatchString(a.Name()) || !re.MatchString(b.Name()) {
		t.Fatalf("names %q, %q do not match %v", a.Name(), b.Name(), re)
	}
	if a.Name() == b.Name() {
		t.Fatalf("two generated names are equal: %q", a.Name())
	}
	if n := msb.NewPythonSandbox(msb.WithName("mine")).Name(); n != "mine" {
		t.Fatalf("WithName: Name() = %q", n)
	}
}

func TestNotStarted(t *testing.T) {
	sb := msb.NewPythonSandbox()
	if _, err := sb.Code().Run("1"); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Code().Run before Start: %v", err)
	}
	if _, err := sb.Command().Run("true", nil); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Command().Run before Start: %v", err)
	}
	if _, err := sb.Metrics().All(); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Metrics().All before Start: %v", err)
	}
	if _, err := sb.Metrics().IsRunning(); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Metrics().IsRunning before Start: %v", err)
	}
	if _, err := sb.Files().ReadFile("/etc/hostname"); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Files().ReadFile before Start: %v", err)
	}
	if err := sb.Stop(); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Errorf("Stop before Start: %v", err)
	}
	if st := sb.Status(); st != "created" {
		t.Errorf("Status() = %q, want created", st)
	}
	if err := sb.Close(); err != nil {
		t.Errorf("Close of a never started sandbox: %v", err)
	}
}

func TestStartConfigRejected(t *testing.T) {
	cases := []struct {
		field       string
		cfg         msb.StartConfig
		unsupported bool
	}{
		{"StartConfig.Image", msb.StartConfig{Image: "ubuntu:22.04"}, true},
		{"StartConfig.Image", msb.StartConfig{Image: "microsandbox/node"}, true}, // not this language's
		{"StartConfig.Ports", msb.StartConfig{Ports: []string{"8080:80"}}, true},
		{"StartConfig.DependsOn", msb.StartConfig{DependsOn: []string{"db"}}, true},
		{"StartConfig.Scripts", msb.StartConfig{Scripts: map[string]string{"start": "x"}}, true},
		{"StartConfig.Exec", msb.StartConfig{Exec: "python app.py"}, true},
		{"StartConfig.Shell", msb.StartConfig{Shell: "bash"}, false},
		{"StartConfig.Envs[1]", msb.StartConfig{Envs: []string{"A=1", "NOEQUALS"}}, false},
		{"StartConfig.Volumes[0]", msb.StartConfig{Volumes: []string{"/tmp"}}, false},
		{"StartConfig.Volumes[0]", msb.StartConfig{Volumes: []string{"rel:/x"}}, false},
		{"StartConfig.Volumes[0]", msb.StartConfig{Volumes: []string{"/tmp:/x:bogus"}}, false},
	}
	for _, c := range cases {
		sb := msb.NewPythonSandbox()
		err := sb.Start(c.cfg)
		var ce *msb.ConfigError
		if !errors.Is(err, msb.ErrFailedToStartSandbox) || !errors.As(err, &ce) {
			t.Errorf("%s: Start(%+v) = %v, want a wrapped *ConfigError", c.field, c.cfg, err)
			continue
		}
		if ce.Field != c.field || !strings.Contains(err.Error(), c.field) {
			t.Errorf("error names %q (%v), want %q", ce.Field, err, c.field)
		}
		if errors.Is(err, msb.ErrUnsupportedConfig) != c.unsupported {
			t.Errorf("%s: errors.Is(ErrUnsupportedConfig) = %v", c.field, !c.unsupported)
		}
		if sb.Status() != "created" {
			t.Errorf("%s: status after a rejected Start: %s", c.field, sb.Status())
		}
	}
	for _, o := range []msb.Option{msb.WithServerUrl("http://x"), msb.WithApiKey("k")} {
		err := msb.NewPythonSandbox(o).Start(msb.StartConfig{})
		if !errors.Is(err, msb.ErrUnsupportedConfig) || !strings.Contains(err.Error(), "With") {
			t.Errorf("server option: Start = %v, want an unsupported-option error naming it", err)
		}
	}
}

func TestDefaultImageAccepted(t *testing.T) {
	need(t)
	for _, img := range []string{"microsandbox/python", "microsandbox/python:latest"} {
		sb := msb.NewPythonSandbox()
		if err := sb.Start(msb.StartConfig{Image: img}); err != nil {
			t.Fatalf("Start(Image: %q): %v", img, err)
		}
		sb.Close()
	}
}

func TestLibmsbError(t *testing.T) {
	need(t)
	sb := msb.NewPythonSandbox(msb.WithBackend(msb.BackendVM))
	err := sb.Start(msb.StartConfig{})
	var me *msb.Error
	if !errors.Is(err, msb.ErrFailedToStartSandbox) || !errors.As(err, &me) {
		t.Fatalf("Start on the vm backend = %v, want a wrapped *msb.Error", err)
	}
	if me.Code >= 0 || me.Message == "" || me.Hint == "" {
		t.Errorf("error fields: code %d, message %q, hint %q", me.Code, me.Message, me.Hint)
	}
	if !errors.Is(err, me.Code) || errors.Is(err, msb.CodeExists) {
		t.Errorf("errors.Is with ErrorCode does not match the code")
	}
	if me.Code == msb.CodeUnsupported && !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("CodeUnsupported does not match errors.ErrUnsupported")
	}

	sb2 := msb.NewPythonSandbox(msb.WithName(strings.Repeat("x", 200)))
	err = sb2.Start(msb.StartConfig{})
	if !errors.As(err, &me) || me.Code != msb.CodeInvalid {
		t.Fatalf("Start with a 200-character name = %v, want CodeInvalid", err)
	}
}

// Trust routes BackendAuto: trusted code gets os, and untrusted code fails
// closed where no microVM can run, unless the fallback is allowed.
func TestTrustRouting(t *testing.T) {
	need(t)
	sb := msb.NewPythonSandbox(msb.WithTrust(msb.TrustTrusted))
	if err := sb.Start(msb.StartConfig{}); err != nil {
		t.Fatal(err)
	}
	if sb.Backend() != msb.BackendOS || !strings.Contains(sb.BackendReason(), "trusted") {
		t.Fatalf("trusted: backend %v, reason %q", sb.Backend(), sb.BackendReason())
	}
	sb.Stop()
	var me *msb.Error
	u := msb.NewPythonSandbox(msb.WithTrust(msb.TrustUntrusted))
	err := u.Start(msb.StartConfig{})
	if err == nil {
		// this host runs microVMs: then it must be one
		if u.Backend() != msb.BackendVM {
			t.Fatalf("untrusted code started on %v (%q)", u.Backend(), u.BackendReason())
		}
		u.Stop()
		return
	}
	if !errors.As(err, &me) || me.Code != msb.CodeUnsupported || !strings.Contains(me.Hint, "allow_fallback") {
		t.Fatalf("untrusted without a microVM = %v, want CodeUnsupported with a hint", err)
	}
	f := msb.NewPythonSandbox(msb.WithTrust(msb.TrustUntrusted), msb.WithAllowFallback())
	if err := f.Start(msb.StartConfig{}); err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if f.Backend() != msb.BackendOS || !strings.Contains(f.BackendReason(), "fallback") {
		t.Fatalf("fallback: backend %v, reason %q", f.Backend(), f.BackendReason())
	}
}

func TestLifecycle(t *testing.T) {
	need(t)
	sb := msb.NewPythonSandbox()
	if err := sb.Start(msb.StartConfig{Memory: 256, CPUs: 1}); err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(msb.StartConfig{}); !errors.Is(err, msb.ErrSandboxAlreadyStarted) {
		t.Fatalf("second Start = %v", err)
	}
	if sb.Status() != "running" || sb.Backend() == msb.BackendAuto {
		t.Fatalf("status %q, backend %v", sb.Status(), sb.Backend())
	}
	if ok, err := sb.Metrics().IsRunning(); err != nil || !ok {
		t.Fatalf("IsRunning = %v, %v", ok, err)
	}
	if _, err := sb.Code().Run("x = 1"); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := sb.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if sb.Status() != "stopped" {
		t.Fatalf("status after Stop: %q", sb.Status())
	}
	if _, err := sb.Command().Run("true", nil); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Fatalf("Run after Stop = %v", err)
	}
	// Started again, it is a fresh sandbox: the REPL state is gone.
	if err := sb.Start(msb.StartConfig{}); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	ex, err := sb.Code().Run("print('x' in globals())")
	if out, _ := ex.GetOutput(); err != nil || out != "False" {
		t.Fatalf("after restart: %q, %v", out, err)
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sb.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := sb.Start(msb.StartConfig{}); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
}

func TestCommand(t *testing.T) {
	sb := started(t)
	ex, err := sb.Command().Run("sh", []string{"-c", "echo out; echo err >&2; exit 3"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ex.GetOutput()
	errOut, _ := ex.GetError()
	if out != "out" || errOut != "err" || ex.GetExitCode() != 3 || ex.IsSuccess() {
		t.Fatalf("got out %q err %q exit %d success %v", out, errOut, ex.GetExitCode(), ex.IsSuccess())
	}
	if ex.GetCommand() != "sh" || len(ex.GetArgs()) != 2 || ex.GetArgs()[1] != "echo out; echo err >&2; exit 3" {
		t.Fatalf("GetCommand %q GetArgs %q", ex.GetCommand(), ex.GetArgs())
	}
	ex, err = sb.Command().Run("true", nil)
	if err != nil || !ex.IsSuccess() || ex.GetExitCode() != 0 {
		t.Fatalf("true: %+v, %v", ex, err)
	}
	// Arguments are passed as they are, no shell in between.
	ex, err = sb.Command().Run("echo", []string{"$HOME", "a b", "*"})
	if out, _ := ex.GetOutput(); err != nil || out != "$HOME a b *" {
		t.Fatalf("echo: %q, %v", out, err)
	}

	_, err = sb.Command().Run("no-such-program-xyz", nil)
	var me *msb.Error
	if !errors.Is(err, msb.ErrFailedToRunCommand) || !errors.As(err, &me) ||
		me.Code != msb.CodeNotFound || !errors.Is(err, fs.ErrNotExist) || me.Message == "" {
		t.Fatalf("unknown program: %v", err)
	}

	var zero msb.CommandExecution
	if _, err := zero.GetOutput(); !errors.Is(err, msb.ErrExecutionNotParsed) || zero.GetExitCode() != -1 {
		t.Fatalf("zero CommandExecution: %v", err)
	}
}

func TestExecOptions(t *testing.T) {
	sb := started(t)
	ex, err := sb.Exec(context.Background(), msb.Cmd{
		Name:  "sh",
		Args:  []string{"-c", `printf '%s|%s|' "$GREETING" "$(pwd)"; cat`},
		Env:   []string{"GREETING=hi"},
		Dir:   "/tmp",
		Stdin: strings.NewReader("from stdin"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(ex.Stdout); got != "hi|/tmp|from stdin" {
		t.Fatalf("got %q", got)
	}
	for _, n := range []int{1, 7, 1 << 20} {
		in := bytes.Repeat([]byte("x"), n)
		ex, err = sb.Exec(context.Background(), msb.Cmd{Name: "cat", Stdin: bytes.NewReader(in)})
		if err != nil || !bytes.Equal(ex.Stdout, in) {
			t.Fatalf("cat of %d bytes of stdin: %d bytes back, %v", n, len(ex.Stdout), err)
		}
	}
	ex, err = sb.Exec(context.Background(), msb.Cmd{Name: "sleep", Args: []string{"10"}, Timeout: 200 * time.Millisecond})
	if err != nil || !ex.TimedOut || ex.IsSuccess() || ex.Signal == 0 {
		t.Fatalf("timeout: %+v, %v", ex, err)
	}
	ex, err = sb.Exec(context.Background(), msb.Cmd{Name: "head", Args: []string{"-c", "100000", "/dev/zero"}, OutputCap: 1000})
	if err != nil || len(ex.Stdout) != 1000 || !ex.StdoutTruncated {
		t.Fatalf("cap: %d bytes, truncated %v, %v", len(ex.Stdout), ex.StdoutTruncated, err)
	}
}

type lockedBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestExecStreaming(t *testing.T) {
	sb := started(t)
	cctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ctx := range []context.Context{context.Background(), cctx} {
		var out, errb lockedBuffer
		ex, err := sb.Exec(ctx, msb.Cmd{Name: "sh",
			Args:   []string{"-c", "for i in 1 2 3; do echo o$i; echo e$i >&2; sleep 0.05; done"},
			Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != "o1\no2\no3\n" || errb.String() != "e1\ne2\ne3\n" {
			t.Fatalf("streamed %q / %q", out.String(), errb.String())
		}
		if out.writes < 2 {
			t.Errorf("stdout came in %d write(s), want it streamed in several", out.writes)
		}
		if len(ex.Stdout) != 0 || ex.GetExitCode() != 0 {
			t.Fatalf("result: %q exit %d", ex.Stdout, ex.GetExitCode())
		}
	}
	// Only stdout to a writer: stderr is still buffered.
	var out lockedBuffer
	ex, err := sb.Exec(context.Background(), msb.Cmd{Name: "sh", Args: []string{"-c", "echo a; echo b >&2"}, Stdout: &out})
	if err != nil || out.String() != "a\n" || string(ex.Stderr) != "b\n" {
		t.Fatalf("mixed: %q %q %v", out.String(), ex.Stderr, err)
	}
	// A failing writer kills the command.
	_, err = sb.Exec(context.Background(), msb.Cmd{Name: "sh", Args: []string{"-c", "echo x; sleep 30"}, Stdout: failWriter{}})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing writer: %v", err)
	}
}

func TestWriterPanic(t *testing.T) {
	sb := started(t)
	func() {
		defer func() {
			if p := recover(); p != "writer panic" {
				t.Fatalf("recovered %v, want the writer's panic", p)
			}
		}()
		sb.Exec(context.Background(), msb.Cmd{Name: "sh", Args: []string{"-c", "echo x; sleep 30"}, Stdout: panicWriter{}})
		t.Fatal("no panic")
	}()
	// The command was killed and the sandbox still works.
	ex, err := sb.Command().Run("echo", []string{"ok"})
	if out, _ := ex.GetOutput(); err != nil || out != "ok" {
		t.Fatalf("after a panic: %q, %v", out, err)
	}
}

type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("writer panic") }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func noSleepLeft(t *testing.T, sb *msb.Sandbox) {
	t.Helper()
	ex, err := sb.Command().Run("ps", []string{"-eo", "comm"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ex.Stdout), "sleep") {
		t.Fatalf("a canceled command still runs:\n%s", ex.Stdout)
	}
}

func TestCommandCancel(t *testing.T) {
	sb := started(t)
	if _, err := sb.Command().Run("ps", nil); err != nil {
		t.Skipf("no ps in the sandbox: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := sb.Command().RunContext(ctx, "sleep", []string{"30"})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, msb.ErrFailedToRunCommand) {
		t.Fatalf("RunContext = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	noSleepLeft(t, sb)

	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(200 * time.Millisecond); cancel2() }()
	var out lockedBuffer
	_, err = sb.Exec(ctx2, msb.Cmd{Name: "sh", Args: []string{"-c", "echo started; exec sleep 30"}, Stdout: &out})
	if !errors.Is(err, context.Canceled) || out.String() != "started\n" {
		t.Fatalf("streaming cancel: %v, %q", err, out.String())
	}
	noSleepLeft(t, sb)

	// Already canceled: nothing runs.
	if _, err := sb.Command().RunContext(ctx2, "true", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("RunContext with a canceled ctx = %v", err)
	}
}

func TestCode(t *testing.T) {
	sb := started(t)
	code := sb.Code()
	if _, err := code.Run("import math\nx = 41"); err != nil {
		t.Fatal(err)
	}
	ex, err := code.Run("print(x + 1)\nmath.sqrt(16)")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := ex.GetOutput()
	if out != "42" || ex.HasError() || ex.GetStatus() != "success" || ex.GetLanguage() != "python" {
		t.Fatalf("out %q, HasError %v, status %q, language %q", out, ex.HasError(), ex.GetStatus(), ex.GetLanguage())
	}
	if ex.Value != "4.0" {
		t.Errorf("Value = %q, want 4.0", ex.Value)
	}
	if ex.ValueTruncated || ex.StdoutTruncated || ex.StderrTruncated {
		t.Errorf("a small run says something was cut: %+v", ex)
	}
	// A value larger than a reply is cut, and the result says so.
	if ex, err = code.Run("'x' * 1000000"); err != nil || !ex.ValueTruncated ||
		len(ex.Value) >= 1000000 {
		t.Errorf("a 1 MB value: err %v, ValueTruncated %v, %d bytes", err, ex.ValueTruncated, len(ex.Value))
	}
	ex, err = code.Run("print('before')\n1/0")
	if err != nil {
		t.Fatal(err)
	}
	out, _ = ex.GetOutput()
	errOut, _ := ex.GetError()
	if !ex.HasError() || ex.GetStatus() != "error" || out != "before" ||
		!strings.Contains(errOut, "ZeroDivisionError") || ex.ErrorType != "ZeroDivisionError" {
		t.Fatalf("raise: HasError %v status %q out %q err %q type %q", ex.HasError(), ex.GetStatus(), out, errOut, ex.ErrorType)
	}
	// Named contexts are separate interpreters; the shell REPL too.
	other := sb.REPL(msb.LanguagePython, "other")
	ex, _ = other.Run("print('x' in globals())")
	if out, _ := ex.GetOutput(); out != "False" {
		t.Fatalf("a new context sees x: %q", out)
	}
	ex, err = sb.REPL(msb.LanguageShell, "").Run("V=7; echo $((V*6))")
	if out, _ := ex.GetOutput(); err != nil || out != "42" || ex.GetLanguage() != "shell" {
		t.Fatalf("shell REPL: %q, %v", out, err)
	}
	if err := other.Reset(); err != nil {
		t.Fatal(err)
	}
	var zero msb.CodeExecution
	if zero.GetStatus() != "unknown" || zero.HasError() {
		t.Fatal("zero CodeExecution")
	}
}

func TestCodeStreaming(t *testing.T) {
	sb := started(t)
	var out lockedBuffer
	ex, err := sb.RunCode(context.Background(), msb.CodeRun{
		Code:   "import sys, time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.05)\nsys.stderr.write('e\\n')",
		Stdout: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != "0\n1\n2\n" || len(ex.Stdout) != 0 || string(ex.Stderr) != "e\n" {
		t.Fatalf("streamed %q, result out %q err %q", out.String(), ex.Stdout, ex.Stderr)
	}
}

func TestCodeCancel(t *testing.T) {
	sb := started(t)
	code := sb.Code()
	if _, err := code.Run("kept = 'yes'"); err != nil {
		t.Fatal(err)
	}
	// A deadline interrupts the run and keeps the interpreter's state.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	ex, err := code.RunContext(ctx, "import time\ntime.sleep(30)")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, msb.ErrFailedToRunCode) || ex.GetStatus() != "timeout" {
		t.Fatalf("deadline: status %q, %v", ex.GetStatus(), err)
	}
	ex, err = code.Run("print(kept)")
	if out, _ := ex.GetOutput(); err != nil || out != "yes" {
		t.Fatalf("state after the deadline: %q, %v", out, err)
	}
	// Cancellation of code that prints: stopped at the next output.
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel2() }()
	start := time.Now()
	_, err = code.RunContext(ctx2, "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.05)")
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("cancel of printing code: %v after %v", err, time.Since(start))
	}
	// Cancellation of silent code: interrupted, the state kept.
	ctx3, cancel3 := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel3() }()
	start = time.Now()
	ex, err = code.RunContext(ctx3, "import time\ntime.sleep(30)")
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second || ex.GetStatus() != "interrupted" {
		t.Fatalf("cancel of silent code: status %q, %v after %v", ex.GetStatus(), err, time.Since(start))
	}
	ex, err = code.Run("print(kept, 6*7)")
	if out, _ := ex.GetOutput(); err != nil || out != "yes 42" {
		t.Fatalf("REPL after a cancel: %q, %v", out, err)
	}
	// Interrupt from another goroutine, without a context.
	repl := sb.REPL(msb.LanguagePython, "")
	go func() { time.Sleep(300 * time.Millisecond); repl.Interrupt() }()
	ex, err = repl.Run("import time\ntime.sleep(30)")
	if err != nil || ex.GetStatus() != "interrupted" || ex.ErrorType != "KeyboardInterrupt" {
		t.Fatalf("Interrupt: status %q type %q, %v", ex.GetStatus(), ex.ErrorType, err)
	}
	if err := repl.Interrupt(); err != nil {
		t.Fatalf("Interrupt with nothing running: %v", err)
	}
}

func TestNodeSandbox(t *testing.T) {
	need(t)
	sb := msb.NewNodeSandbox()
	if err := sb.Start(msb.StartConfig{Image: "microsandbox/node"}); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ex, err := sb.Code().Run("let n = 6; console.log(n * 7)")
	if errors.Is(err, msb.CodeNotFound) {
		t.Skipf("no node in the sandbox: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ex, err = sb.Code().Run("console.log(n + 1)")
	if out, _ := ex.GetOutput(); err != nil || out != "7" || ex.GetLanguage() != "nodejs" {
		t.Fatalf("node: %q (%s), %v", out, ex.GetLanguage(), err)
	}
}

func TestMetrics(t *testing.T) {
	sb := started(t, msb.WithName("metrics-test"))
	if _, err := sb.Code().Run("data = bytearray(32 << 20)"); err != nil {
		t.Fatal(err)
	}
	m, err := sb.Metrics().All()
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "metrics-test" || !m.IsRunning || m.MemoryMiB < 32 || m.CPU < 0 || m.Pids < 2 || m.Uptime <= 0 {
		t.Fatalf("metrics %+v", m)
	}
	if err := sb.Files().WriteFile("/tmp/f", make([]byte, 1<<20), 0); err != nil {
		t.Fatal(err)
	}
	if d, err := sb.Metrics().DiskBytes(); err != nil || d < 1<<20 {
		t.Fatalf("DiskBytes = %d, %v", d, err)
	}
	if mem, err := sb.Metrics().MemoryMiB(); err != nil || mem < 32 {
		t.Fatalf("MemoryMiB = %d, %v", mem, err)
	}
	if _, err := sb.Metrics().CPU(); err != nil {
		t.Fatal(err)
	}
	sb.Stop()
	if _, err := sb.Metrics().All(); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Fatalf("All after Stop = %v", err)
	}
}

func TestFiles(t *testing.T) {
	sb := started(t)
	f := sb.Files()
	if err := f.MkdirAll("/workspace/a/b", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile("/workspace/a/b/hello.txt", []byte("hello\x00world"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := f.AppendFile("a/b/hello.txt", []byte("!"), 0); err != nil {
		t.Fatal(err)
	}
	data, err := f.ReadFile("/workspace/a/b/hello.txt")
	if err != nil || string(data) != "hello\x00world!" {
		t.Fatalf("ReadFile = %q, %v", data, err)
	}
	fi, err := f.Stat("/workspace/a/b/hello.txt")
	if err != nil || fi.Type != msb.FileRegular || fi.Size != 12 || fi.Mode.Perm() != 0o600 || fi.ModTime.IsZero() {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	list, err := f.ReadDir("/workspace/a")
	if err != nil || len(list) != 1 || list[0].Name != "b" || !list[0].IsDir() {
		t.Fatalf("ReadDir = %+v, %v", list, err)
	}
	var buf bytes.Buffer
	if err := f.ReadFileTo("/workspace/a/b/hello.txt", &buf, 0); err != nil || buf.String() != "hello\x00world!" {
		t.Fatalf("ReadFileTo = %q, %v", buf.String(), err)
	}
	if err := f.Rename("/workspace/a/b/hello.txt", "/workspace/a/hi.txt"); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Exists("/workspace/a/b/hello.txt"); err != nil || ok {
		t.Fatalf("Exists after rename = %v, %v", ok, err)
	}
	if err := f.CreateFile("/workspace/a/hi.txt", nil, 0); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("CreateFile of an existing file = %v", err)
	}
	if _, err := f.ReadFile("/nope/nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file = %v", err)
	}
	if _, err := f.ReadFileLimit("/workspace/a/hi.txt", 3); !errors.Is(err, msb.CodeTooBig) {
		t.Fatalf("ReadFileLimit = %v", err)
	}
	host := filepath.Join(t.TempDir(), "out.txt")
	if err := f.CopyOut("/workspace/a/hi.txt", host); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(host); string(b) != "hello\x00world!" {
		t.Fatalf("CopyOut wrote %q", b)
	}
	if err := f.CopyIn(host, "/tmp/in.txt"); err != nil {
		t.Fatal(err)
	}
	if err := f.RemoveAll("/workspace/a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Exists("/workspace/a"); ok {
		t.Fatal("RemoveAll left the tree")
	}
	ex, _ := sb.Command().Run("cat", []string{"/tmp/in.txt"})
	if string(ex.Stdout) != "hello\x00world!" {
		t.Fatalf("CopyIn: %q", ex.Stdout)
	}
}

func TestVolumes(t *testing.T) {
	need(t)
	// The sandbox runs as an unprivileged host uid: the path must be
	// reachable by it, which a test's private temp directory is not.
	dir, err := os.MkdirTemp("/tmp", "msb-go-volume-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	sb := msb.NewPythonSandbox()
	if err := sb.Start(msb.StartConfig{Volumes: []string{dir + ":/mnt/data:ro"}, Envs: []string{"MY_VAR=42"}, Workdir: "/tmp"}); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	ex, err := sb.Command().Run("sh", []string{"-c", "cat /mnt/data/data.txt; echo \" $MY_VAR $(pwd)\"; touch /mnt/data/x 2>/dev/null && echo writable"})
	if out, _ := ex.GetOutput(); err != nil || out != "from host 42 /tmp" {
		t.Fatalf("volume/env/workdir: %q, %v", out, err)
	}
}

// A bad hostname is refused before anything starts, with libmsb's code,
// message and hint, whether it comes from StartConfig or WithHostname.
func TestHostnameInvalid(t *testing.T) {
	for _, c := range []struct {
		opt  msb.Option
		host string
	}{{nil, "bad_name"}, {msb.WithHostname("bad_name"), ""}, {msb.WithHostname("web-1"), "bad_name"}} {
		sb := msb.NewPythonSandbox(c.opt)
		err := sb.Start(msb.StartConfig{Hostname: c.host})
		sb.Close()
		var me *msb.Error
		if !errors.Is(err, msb.ErrFailedToStartSandbox) || !errors.As(err, &me) ||
			me.Code != msb.CodeInvalid || !strings.Contains(me.Message, "bad_name") || me.Hint == "" {
			t.Fatalf("Start with hostname bad_name = %v, want CodeInvalid naming it, with a hint", err)
		}
	}
}

// The hostname comes from StartConfig.Hostname, else WithHostname.
func TestHostname(t *testing.T) {
	need(t)
	hostname := func(sb *msb.Sandbox) string {
		t.Helper()
		ex, err := sb.Command().Run("hostname", nil)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := ex.GetOutput()
		return out
	}
	sb := msb.NewPythonSandbox()
	if err := sb.Start(msb.StartConfig{Hostname: "web-1"}); err != nil {
		t.Fatal(err)
	}
	if got := hostname(sb); got != "web-1" {
		t.Errorf("StartConfig.Hostname web-1: hostname prints %q", got)
	}
	sb.Close()

	sb = msb.NewPythonSandbox(msb.WithHostname("db-2"))
	defer sb.Close()
	if err := sb.Start(msb.StartConfig{}); err != nil {
		t.Fatal(err)
	}
	if got := hostname(sb); got != "db-2" {
		t.Errorf("WithHostname(db-2): hostname prints %q", got)
	}
	sb.Stop()
	if err := sb.Start(msb.StartConfig{Hostname: "web-1"}); err != nil {
		t.Fatal(err)
	}
	if got := hostname(sb); got != "web-1" {
		t.Errorf("StartConfig.Hostname over WithHostname: hostname prints %q", got)
	}
}

func TestProcess(t *testing.T) {
	sb := started(t)
	p, err := sb.StartProcess(msb.Cmd{Name: "cat", Stdin: strings.NewReader("first ")})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.PID() <= 0 {
		t.Fatalf("PID = %d", p.PID())
	}
	if _, err := p.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	if err := p.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for {
		o, err := p.Read(5 * time.Second)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if o.Stream != msb.Stdout {
			t.Fatalf("stream %d", o.Stream)
		}
		got = append(got, o.Data...)
	}
	if string(got) != "first second" {
		t.Fatalf("read %q", got)
	}
	ex, err := p.Wait()
	if err != nil || ex.GetExitCode() != 0 || ex.PID != p.PID() {
		t.Fatalf("Wait = %+v, %v", ex, err)
	}

	q, err := sb.StartProcess(msb.Cmd{Name: "sleep", Args: []string{"30"}})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := sb.Processes(); err != nil || len(list) == 0 || !strings.Contains(list[len(list)-1].Command, "sleep") {
		t.Fatalf("Processes = %+v, %v", list, err)
	}
	if _, err := q.Read(50 * time.Millisecond); !errors.Is(err, msb.CodeTimedOut) {
		t.Fatalf("Read with nothing to read = %v", err)
	}
	if err := q.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ex, err = q.Wait()
	if err != nil || ex.Signal != int(syscall.SIGTERM) || ex.GetExitCode() != -1 {
		t.Fatalf("signaled: %+v, %v", ex, err)
	}
	q.Close()
	q.Close()
	if _, err := q.Write([]byte("x")); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}

	// WaitContext kills on cancel.
	r, err := sb.StartProcess(msb.Cmd{Name: "sleep", Args: []string{"30"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := r.WaitContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitContext = %v", err)
	}
	// A process left open is released by Stop.
	if _, err := sb.StartProcess(msb.Cmd{Name: "sleep", Args: []string{"30"}}); err != nil {
		t.Fatal(err)
	}
	if err := sb.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(); !errors.Is(err, msb.ErrSandboxNotStarted) {
		t.Fatalf("Wait after the sandbox stopped = %v", err)
	}
	r.Close()
}

func TestPTY(t *testing.T) {
	sb := msb.NewPythonSandbox()
	need(t)
	if err := sb.Start(msb.StartConfig{Shell: "/bin/sh"}); err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	p, err := sb.OpenPTY(msb.PTYOptions{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Write([]byte("stty size; echo tty-$((40+2))\n")); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(got.String(), "tty-42") && time.Now().Before(deadline) {
		o, err := p.Read(time.Second)
		if errors.Is(err, msb.CodeTimedOut) {
			continue
		}
		if err != nil {
			t.Fatalf("read: %v (so far %q)", err, got.String())
		}
		got.Write(o.Data)
	}
	if !strings.Contains(got.String(), "tty-42") || !strings.Contains(got.String(), "30 100") {
		t.Fatalf("pty output %q", got.String())
	}
	if err := p.Resize(40, 120); err != nil {
		t.Fatal(err)
	}
	p.Write([]byte("exit 5\n"))
	ex, err := p.Wait()
	if err != nil || ex.GetExitCode() != 5 || ex.GetCommand() != "/bin/sh" {
		t.Fatalf("pty wait: exit %d cmd %q, %v", ex.GetExitCode(), ex.GetCommand(), err)
	}
}

func TestConcurrent(t *testing.T) {
	sb := started(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				want := fmt.Sprintf("%d-%d", g, i)
				switch (g + i) % 4 {
				case 0, 1:
					ex, err := sb.Command().Run("echo", []string{want})
					if out, _ := ex.GetOutput(); err != nil || out != want {
						errs <- fmt.Errorf("command %s: %q, %v", want, out, err)
					}
				case 2:
					ex, err := sb.REPL(msb.LanguagePython, fmt.Sprint("c", g)).Run(fmt.Sprintf("print(%q)", want))
					if out, _ := ex.GetOutput(); err != nil || out != want {
						errs <- fmt.Errorf("code %s: %q, %v", want, out, err)
					}
				case 3:
					path := "/tmp/" + want
					if err := sb.Files().WriteFile(path, []byte(want), 0); err != nil {
						errs <- err
					} else if b, err := sb.Files().ReadFile(path); err != nil || string(b) != want {
						errs <- fmt.Errorf("file %s: %q, %v", want, b, err)
					}
					if _, err := sb.Metrics().All(); err != nil {
						errs <- err
					}
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestStopWhileBusy(t *testing.T) {
	sb := started(t)
	var wg sync.WaitGroup
	results := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex, err := sb.Command().Run("sleep", []string{"30"})
			if err == nil && ex.IsSuccess() {
				err = errors.New("sleep 30 completed despite Stop")
			} else {
				err = nil
			}
			results <- err
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := sb.Code().Run("import time\ntime.sleep(30)")
		_ = err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	var swg sync.WaitGroup
	for i := 0; i < 3; i++ { // concurrent Stops are fine
		swg.Add(1)
		go func() { defer swg.Done(); sb.Stop() }()
	}
	swg.Wait()
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("Stop with busy commands took %v", d)
	}
	if sb.Status() != "stopped" {
		t.Fatalf("status %q", sb.Status())
	}
}

type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	h.msgs = append(h.msgs, s)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestLogger(t *testing.T) {
	need(t)
	for _, mk := range []func(*slog.Logger) msb.Logger{
		func(l *slog.Logger) msb.Logger { return l },
		func(l *slog.Logger) msb.Logger { return msb.NewSlogLogger(l) },
	} {
		h := &recordHandler{}
		sb := msb.NewPythonSandbox(msb.WithName("logged"), msb.WithLogger(mk(slog.New(h))))
		if err := sb.Start(msb.StartConfig{}); err != nil {
			t.Fatal(err)
		}
		sb.Command().Run("true", nil)
		sb.Stop()
		all := strings.Join(h.msgs, "\n")
		for _, want := range []string{"Starting sandbox name=logged", "Sandbox started successfully",
			"Executing command sandbox=logged command=true", "Sandbox stopped successfully"} {
			if !strings.Contains(all, want) {
				t.Errorf("log lacks %q:\n%s", want, all)
			}
		}
	}
}

func TestDetached(t *testing.T) {
	need(t)
	state := t.TempDir()
	os.Chmod(state, 0o700)
	t.Setenv("MSB_STATE_DIR", state)
	name := fmt.Sprintf("gotest-%d", os.Getpid())
	sb := msb.NewPythonSandbox(msb.WithName(name), msb.WithDetached())
	if err := sb.Start(msb.StartConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := sb.Files().WriteFile("/tmp/mark", []byte("still here"), 0); err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(); err != nil { // disconnects only
		t.Fatal(err)
	}
	list, err := msb.List()
	if err != nil || len(list) != 1 || list[0].Name != name || list[0].Status != "running" || list[0].PID <= 0 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	again, err := msb.Connect(name, msb.LanguagePython)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := again.Command().Run("cat", []string{"/tmp/mark"})
	if string(ex.Stdout) != "still here" || err != nil {
		t.Fatalf("after Connect: %q, %v", ex.Stdout, err)
	}
	if err := again.Stop(); err != nil {
		t.Fatal(err)
	}
	msb.Remove(name)
	if _, err := msb.Connect(name, msb.LanguagePython); !errors.Is(err, msb.CodeNotFound) && !errors.Is(err, msb.CodeState) {
		t.Fatalf("Connect after Stop = %v", err)
	}
}

func TestFinalizer(t *testing.T) {
	need(t)
	done := make(chan string, 4)
	msb.SetFinalizedHook(func(name string) { done <- name })
	defer msb.SetFinalizedHook(nil)
	func() {
		sb := msb.NewPythonSandbox(msb.WithName("finalized"))
		if err := sb.Start(msb.StartConfig{}); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Command().Run("true", nil); err != nil {
			t.Fatal(err)
		}
	}()
	deadline := time.After(20 * time.Second)
	for {
		runtime.GC()
		select {
		case name := <-done:
			if name == "finalized" {
				return
			}
		case <-deadline:
			t.Fatal("the finalizer of an unreachable sandbox did not run")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestHostProbe(t *testing.T) {
	hi, err := msb.ProbeHost()
	if err != nil {
		t.Fatal(err)
	}
	if hi.AutoBackend == msb.BackendAuto {
		t.Fatalf("AutoBackend unresolved: %+v", hi)
	}
}
