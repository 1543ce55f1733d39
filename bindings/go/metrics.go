package msb

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"time"
)

// Metrics contains resource usage information for a sandbox.
type Metrics struct {
	Name        string        // Sandbox name
	IsRunning   bool          // Whether the sandbox is currently running
	CPU         float64       // CPU usage percentage since the previous reading (100 = one CPU)
	MemoryMiB   int           // Memory usage in mebibytes
	DiskBytes   int           // Disk usage (writable areas) in bytes
	MemoryBytes uint64        // Memory usage in bytes
	Pids        int           // Processes inside, the agent included
	Uptime      time.Duration // Since start
	// HostMemoryBytes is what the sandbox costs the host: its processes
	// (os backend), or the whole microVM with the guest memory it touched.
	HostMemoryBytes uint64
}

type metricsReader struct{ s *Sandbox }

// Metrics returns the sandbox's MetricsReader.
func (s *Sandbox) Metrics() MetricsReader { return metricsReader{s} }

func (mr metricsReader) All() (Metrics, error) {
	h, err := mr.s.acquire()
	if err != nil {
		return Metrics{}, err
	}
	defer mr.s.release()
	var m C.msb_metrics
	m.version = C.MSB_METRICS_VERSION
	var e cerr
	if rc := C.msbgo_sandbox_metrics(&m, h, &e); rc != 0 {
		err := toError(rc, &e, "metrics")
		mr.s.cfg.logger.Error("Failed to get metrics", "sandbox", mr.s.cfg.name, "error", err)
		return Metrics{}, fmt.Errorf("%w: %w", ErrFailedToGetMetrics, err)
	}
	return Metrics{
		Name:        mr.s.cfg.name,
		IsRunning:   m.running != 0,
		CPU:         float64(m.cpu_percent),
		MemoryMiB:   int(m.memory_bytes >> 20),
		DiskBytes:   int(m.disk_bytes),
		MemoryBytes: uint64(m.memory_bytes),
		Pids:        int(m.pids),
		Uptime:      time.Duration(m.uptime_ms) * time.Millisecond,

		HostMemoryBytes: uint64(m.host_memory_bytes),
	}, nil
}

func (mr metricsReader) CPU() (float64, error) {
	m, err := mr.All()
	return m.CPU, err
}

func (mr metricsReader) MemoryMiB() (int, error) {
	m, err := mr.All()
	return m.MemoryMiB, err
}

func (mr metricsReader) DiskBytes() (int, error) {
	m, err := mr.All()
	return m.DiskBytes, err
}

func (mr metricsReader) IsRunning() (bool, error) {
	m, err := mr.All()
	return m.IsRunning, err
}
