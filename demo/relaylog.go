package main

import (
	"os"
	"sync"
)

// relayLog is the relay's stderr: every line goes to a file, and to the
// screen (as "   relay: ...") unless muted.
type relayLog struct {
	f      *os.File
	screen *linePrefixer
	mu     sync.Mutex
	muted  bool
}

func newRelayLog(path string) (*relayLog, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &relayLog{f: f, screen: prefixWriter("   relay: ")}, nil
}

func (l *relayLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.muted {
		_, _ = l.screen.Write(b)
	}
	return l.f.Write(b)
}

// Mute stops (or, with false, resumes) showing the relay's lines; the file
// gets them all.
func (l *relayLog) Mute(m bool) {
	l.mu.Lock()
	l.muted = m
	l.mu.Unlock()
}

// Name is the file's path.
func (l *relayLog) Name() string { return l.f.Name() }

func (l *relayLog) Close() error { return l.f.Close() }
