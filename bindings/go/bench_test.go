package msb_test

import (
	"testing"
	"time"

	"msb"
)

// BenchmarkCommandRunTrue measures Command().Run("true") from Go against the
// same call from C (msb_command_run + free in a C loop), on one sandbox in
// one run:
//
//	go test -run '^$' -bench CommandRunTrue -benchtime 2000x
func BenchmarkCommandRunTrue(b *testing.B) {
	sb := started(b)
	argv := []string{"true"}
	if _, err := sb.Command().Run("true", nil); err != nil { // warm up
		b.Fatal(err)
	}
	b.Run("Go", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			ex, err := sb.Command().Run("true", nil)
			if err != nil || !ex.IsSuccess() {
				b.Fatal(ex, err)
			}
		}
	})
	b.Run("C", func(b *testing.B) {
		if err := sb.BenchCommandLoopC(argv, b.N); err != nil {
			b.Fatal(err)
		}
	})
	// Ratio: batches of each, interleaved so that drift hits both alike.
	b.Run("Ratio", func(b *testing.B) {
		const batch = 10
		var goT, cT time.Duration
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			for j := 0; j < batch; j++ {
				if _, err := sb.Command().Run("true", nil); err != nil {
					b.Fatal(err)
				}
			}
			t1 := time.Now()
			if err := sb.BenchCommandLoopC(argv, batch); err != nil {
				b.Fatal(err)
			}
			goT += t1.Sub(t0)
			cT += time.Since(t1)
		}
		b.ReportMetric(float64(goT)/float64(cT), "go/c")
		b.ReportMetric(float64(goT.Microseconds())/float64(b.N*batch), "go-us/run")
		b.ReportMetric(float64(cT.Microseconds())/float64(b.N*batch), "c-us/run")
	})
}

// BenchmarkCodeRun measures a trivial Python REPL run.
func BenchmarkCodeRun(b *testing.B) {
	sb := started(b)
	code := sb.Code()
	if _, err := code.Run("x = 0"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := code.Run("x += 1"); err != nil {
			b.Fatal(err)
		}
	}
}

var _ = msb.Version
