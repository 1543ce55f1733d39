package msb

// Test hooks (internal package test file, compiled only into tests).

func SetFinalizedHook(f func(name string)) {
	if f == nil {
		finalizedHook.Store(nil)
		return
	}
	finalizedHook.Store(&f)
}

func (s *Sandbox) BenchCommandLoopC(argv []string, n int) error {
	return s.benchCommandLoopC(argv, n)
}
