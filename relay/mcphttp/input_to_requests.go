package mcphttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/keyrelay/keyrelay/internal/mcp"
	"github.com/keyrelay/keyrelay/relay/front"
)

// A 2026-07-28 server asks for input (sampling, an elicitation, the
// roots) with an input_required result; a 2025-era client takes such
// things as requests. The relay asks the client each input request as a
// request of its own, then retries the server's request with the answers
// and the requestState.

// maxInputRounds bounds the retries of one request whose result keeps
// asking for input, as mcp-go's own bridge does.
const maxInputRounds = 10

// inputRequest is one of a 2026-07-28 result's inputRequests.
type inputRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// fulfil serves a 2025-era client's request whose 2026-07-28 result
// asks for input: it asks the client each input request as a request of
// its own, then retries req with inputResponses and the requestState, at
// most maxInputRounds times.
func (p *Upstream) fulfil(ctx context.Context, c *conn, req, resp *front.Message) (*front.Message, error) {
	for round := 0; ; round++ {
		var r struct {
			ResultType    string                  `json:"resultType"`
			InputRequests map[string]inputRequest `json:"inputRequests"`
			RequestState  string                  `json:"requestState"`
		}
		if resp.Error != nil || json.Unmarshal(resp.Result, &r) != nil || r.ResultType != "input_required" {
			return resp, nil
		}
		switch {
		case len(r.InputRequests) == 0:
			return nil, errors.New("the MCP server is busy; try again later")
		case round >= maxInputRounds:
			return nil, fmt.Errorf("the MCP server asked for input more than %d times", maxInputRounds)
		}
		answers, err := p.askAll(ctx, r.InputRequests)
		if err != nil {
			return nil, err
		}
		params, err := front.WithParam(req.Params, "inputResponses", answers)
		if err == nil && r.RequestState != "" {
			params, err = front.WithParam(params, "requestState", r.RequestState)
		}
		if err != nil {
			return nil, err
		}
		if resp, err = c.tr.Call(ctx, &front.Message{JSONRPC: mcp.JSONRPCVersion, ID: req.ID, Method: req.Method, Params: params}); err != nil {
			return nil, err
		}
	}
}

// askAll asks the client the input requests at once, and returns their
// results by key. A refusal or an error ends the request.
func (p *Upstream) askAll(ctx context.Context, reqs map[string]inputRequest) (map[string]json.RawMessage, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		answers = map[string]json.RawMessage{}
		first   error
	)
	for k, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := p.client.Ask(ctx, r.Method, r.Params)
			if err == nil && m.Error != nil {
				err = fmt.Errorf("the client refused %s: %s", front.Scrub(r.Method), front.Scrub(m.Error.Message))
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			answers[k] = m.Result
		}()
	}
	wg.Wait()
	return answers, first
}
