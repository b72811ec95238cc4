package platform

import (
	"runtime"
	"testing"
)

func TestNotifyContextStop(t *testing.T) {
	ctx, stop := NotifyContext()
	if ctx.Err() != nil {
		t.Fatal("cancelled before stop")
	}
	stop()
	stop() // a second stop is harmless
	<-ctx.Done()
}

func TestTuneForStdio(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	for _, tc := range []struct {
		env  string
		want int
	}{{"", 1}, {"3", 3}} {
		runtime.GOMAXPROCS(3)
		t.Setenv("GOMAXPROCS", tc.env)
		_, restore := TuneForStdio()
		restore()
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("GOMAXPROCS=%q: got %d procs, want %d", tc.env, got, tc.want)
		}
	}
}
