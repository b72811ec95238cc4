package front

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/keyrelay/keyrelay/internal/testkit"
)

// P2: the relay's requests to the client waiting for an answer are
// bounded; past MaxAsks, Ask refuses at once, and an answered one frees a
// place.
func TestP2_AsksBounded(t *testing.T) {
	up := &fakeUp{}
	c := start(t, Config{Wire: wireTo(up)})
	c.send(t, initLine)
	c.next(t)
	c.send(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`) // wires the upstream
	c.next(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range MaxAsks {
		go func() { _, _ = up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`)) }()
	}
	var first testkit.Msg
	for i := range MaxAsks {
		m := c.next(t) // each ask reaches the client
		if i == 0 {
			first = m
		}
	}
	if _, err := up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`)); !errors.Is(err, ErrTooManyAsks) {
		t.Fatalf("ask %d: %v, want ErrTooManyAsks", MaxAsks+1, err)
	}
	c.send(t, `{"jsonrpc":"2.0","id":`+string(first.ID)+`,"result":{"action":"decline"}}`)
	// The answer is read by another goroutine: until it is, a new ask is
	// still refused at once, so ask again until one reaches the client.
	testkit.Poll(t, 10*time.Second, "a place freed by the answer", func() bool {
		got := make(chan error, 1)
		go func() {
			_, err := up.client.Ask(ctx, "elicitation/create", json.RawMessage(`{}`))
			got <- err
		}()
		for range 100 {
			select {
			case err := <-got:
				if !errors.Is(err, ErrTooManyAsks) {
					t.Fatalf("the ask after an answer: %v", err)
				}
				return false
			default:
			}
			if m, ok := c.Read(t, 10*time.Millisecond); ok && m.Method == "elicitation/create" {
				return true
			}
		}
		return false
	})
}
