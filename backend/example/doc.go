// Package example holds the example tools of keyrelay's demo backend:
// echo, whoami, read_notes, create_note and admin_stats. It is the worked
// example of package tool; copy it to start your own backend.
//
// Notes live behind the small NoteStore interface. MemoryStore is an
// example only: it is bounded, per process, and lost on restart. Plug a
// real database in behind NoteStore for anything else.
package example
