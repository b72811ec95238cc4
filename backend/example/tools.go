package example

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyrelay/keyrelay/backend/tool"
)

// Scopes used by the example tools.
const (
	ScopeNotesRead  = "notes:read"
	ScopeNotesWrite = "notes:write"
	ScopeAdmin      = "admin"
)

// MaxNoteLength bounds a note's text, in characters.
const MaxNoteLength = 2000

// Tools returns the example tools over store. now is the clock for note
// times and uptime; nil means time.Now.
func Tools(store NoteStore, now func() time.Time) []tool.Tool {
	if now == nil {
		now = time.Now
	}
	started := now()
	return []tool.Tool{
		{
			Name: "echo", Description: "Return the message unchanged. Public: no login needed.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"message":{"type":"string","description":"Text to echo","maxLength":10000}},"required":["message"],"additionalProperties":false}`),
			Handler:     echo,
		},
		{
			Name: "whoami", Description: "Show who you are logged in as: subject, scopes, client, issuer and expiry.",
			InputSchema:  json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			RequiresAuth: true, Handler: whoami,
		},
		{
			Name: "read_notes", Description: "List your notes.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			Scopes:      []string{ScopeNotesRead}, Handler: readNotes(store),
		},
		{
			Name: "create_note", Description: "Save a note.",
			InputSchema: json.RawMessage(fmt.Sprintf(`{"type":"object","properties":{"text":{"type":"string","minLength":1,"maxLength":%d}},"required":["text"],"additionalProperties":false}`, MaxNoteLength)),
			Scopes:      []string{ScopeNotesWrite}, Handler: createNote(store, now),
		},
		{
			Name: "admin_stats", Description: "Server statistics. Needs the admin scope, which a login asks for only on step-up.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`),
			Scopes:      []string{ScopeAdmin}, Handler: adminStats(store, started, now),
		},
	}
}

// Register registers the example tools on s.
func Register(s *tool.Server, store NoteStore, now func() time.Time) error {
	for _, t := range Tools(store, now) {
		if err := s.Register(t); err != nil {
			return err
		}
	}
	return nil
}

func echo(_ context.Context, args map[string]any, _ *tool.User) (*tool.Result, error) {
	msg, _ := args["message"].(string)
	return tool.Text(msg), nil
}

func whoami(_ context.Context, _ map[string]any, u *tool.User) (*tool.Result, error) {
	return tool.JSON(map[string]any{
		"subject":   u.Subject,
		"scopes":    nonNil(u.Scopes),
		"client_id": u.ClientID,
		"issuer":    u.Issuer,
		"expires":   u.Expiry.UTC().Format(time.RFC3339),
	})
}

func readNotes(store NoteStore) tool.Handler {
	return func(ctx context.Context, _ map[string]any, u *tool.User) (*tool.Result, error) {
		notes, err := store.List(ctx, u.Subject)
		if err != nil {
			return nil, errors.New("could not read notes")
		}
		return tool.JSON(map[string]any{"count": len(notes), "notes": notes})
	}
}

func createNote(store NoteStore, now func() time.Time) tool.Handler {
	return func(ctx context.Context, args map[string]any, u *tool.User) (*tool.Result, error) {
		text, _ := args["text"].(string)
		if err := store.Add(ctx, u.Subject, Note{Text: text, Created: now().UTC()}); err != nil {
			if errors.Is(err, ErrFull) {
				return tool.Errorf("note not saved: the limit of notes is reached"), nil
			}
			return nil, errors.New("could not save the note")
		}
		return tool.Text("note saved"), nil
	}
}

// statter is the optional interface admin_stats reports from.
type statter interface{ Stats() (subjects, notes int) }

func adminStats(store NoteStore, started time.Time, now func() time.Time) tool.Handler {
	return func(context.Context, map[string]any, *tool.User) (*tool.Result, error) {
		out := map[string]any{"uptime_seconds": int(now().Sub(started).Seconds())}
		if st, ok := store.(statter); ok {
			out["subjects"], out["notes"] = st.Stats()
		}
		return tool.JSON(out)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
