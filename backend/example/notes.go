package example

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Note is one note of one subject.
type Note struct {
	Text    string    `json:"text"`
	Created time.Time `json:"created"`
}

// NoteStore keeps notes per subject. Implementations must be safe for
// concurrent use. Add returns ErrFull when a limit is reached.
type NoteStore interface {
	Add(ctx context.Context, subject string, n Note) error
	List(ctx context.Context, subject string) ([]Note, error)
}

// ErrFull means the store will not take another note.
var ErrFull = errors.New("example: note limit reached")

// MemoryStore is an in-memory NoteStore for the demo. It holds at most
// PerSubject notes per subject and MaxSubjects subjects.
type MemoryStore struct {
	PerSubject  int
	MaxSubjects int

	mu    sync.Mutex
	notes map[string][]Note
}

var _ NoteStore = (*MemoryStore)(nil)

// NewMemoryStore returns a MemoryStore with demo limits.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{PerSubject: 100, MaxSubjects: 1000, notes: map[string][]Note{}}
}

// Add appends n to subject's notes.
func (m *MemoryStore) Add(_ context.Context, subject string, n Note) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.notes[subject]
	if (!ok && len(m.notes) >= m.MaxSubjects) || len(cur) >= m.PerSubject {
		return ErrFull
	}
	m.notes[subject] = append(cur, n)
	return nil
}

// List returns a copy of subject's notes, oldest first.
func (m *MemoryStore) List(_ context.Context, subject string) ([]Note, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Note{}, m.notes[subject]...), nil
}

// Stats returns the number of subjects and notes held.
func (m *MemoryStore) Stats() (subjects, notes int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.notes {
		notes += len(n)
	}
	return len(m.notes), notes
}
