package setup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/term"

	"github.com/keyrelay/keyrelay/internal/secret"
)

// personHandler is the handler for a person reading w at a terminal, at
// level: nil when w is not a terminal, or when level asks for debug
// records (then the person wants them all, as text records).
func personHandler(w io.Writer, level slog.Level) slog.Handler {
	f, ok := w.(*os.File)
	if !ok || level < slog.LevelInfo || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	st := &shortState{w: w}
	attrs := slog.NewTextHandler(&st.buf, &slog.HandlerOptions{Level: max(level, slog.LevelWarn), ReplaceAttr: attrsOnly})
	return &shortHandler{attrs: attrs, st: st}
}

// attrsOnly keeps a record's own attributes (secrets blanked) and drops
// what the short line says otherwise or a person has no use for: time,
// level, message, and the component.
func attrsOnly(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey, slog.LevelKey, slog.MessageKey, "component":
			return slog.Attr{}
		}
	}
	return secret.ReplaceAttr(groups, a)
}

// shortHandler writes a warning or an error as one line in the commands'
// own style, "relay: warning: MSG (k=v ...)", the attributes as slog's
// text handler writes them. It drops the records below its level.
type shortHandler struct {
	attrs slog.Handler // writes the attributes into st.buf
	st    *shortState
}

// shortState is shared by a handler and those derived from it.
type shortState struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (h *shortHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.attrs.Enabled(ctx, l)
}

func (h *shortHandler) Handle(ctx context.Context, r slog.Record) error {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.st.buf.Reset()
	if err := h.attrs.Handle(ctx, r); err != nil {
		return err
	}
	kind := "warning"
	if r.Level >= slog.LevelError {
		kind = "error"
	}
	line := "relay: " + kind + ": " + printable(r.Message)
	if a := strings.TrimSpace(h.st.buf.String()); a != "" {
		line += " (" + a + ")"
	}
	_, err := io.WriteString(h.st.w, line+"\n")
	return err
}

func (h *shortHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &shortHandler{attrs: h.attrs.WithAttrs(as), st: h.st}
}

func (h *shortHandler) WithGroup(name string) slog.Handler {
	return &shortHandler{attrs: h.attrs.WithGroup(name), st: h.st}
}

// printable is msg, quoted if it holds a character that is not printable
// (a line break would fake a line of its own).
func printable(msg string) string {
	if strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(msg)
	}
	return msg
}
