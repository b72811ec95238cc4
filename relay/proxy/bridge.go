package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// The server's requests to the client, in both directions of the mapping:
// a 2025-era server's requests reach a 2025-era client as they are, and a
// 2026-07-28 client as input_required results (mrtr.go); a 2026-07-28
// server's input_required results reach a 2025-era client as requests.

// maxInputRounds bounds the retries of one request whose result keeps
// asking for input, as mcp-go's own bridge does.
const maxInputRounds = 10

// serverNotification passes a server notification to the client. The
// acknowledgement of the proxy's own subscriptions/listen is not for a
// 2025-era client; a 2026-07-28 client of a 2025-era server gets the
// notifications it subscribed to through its subscriptions/listen.
func (p *Proxy) serverNotification(upModern bool, m *message) {
	modern := p.client.isModern()
	switch {
	case !modern && m.Method == "notifications/subscriptions/acknowledged":
		return
	case modern && !upModern && subscribable(m.Method):
		p.subs.deliver(p.out, m)
		return
	}
	_ = p.out.send(m)
}

// serverRequest answers a server request (sampling, elicitation, roots):
// made during a 2026-07-28 client's request, it waits for the client's
// retry (mrtr.go; on the GET stream, the one such request in flight);
// else it goes to the client under an id of the proxy's
// and the answer comes back under the server's id. It waits as long as
// ctx: the session's lifetime, or until the server cancels the request.
func (p *Proxy) serverRequest(ctx context.Context, req *message) (*message, error) {
	if req.Method == "ping" {
		return resultMsg(req.ID, json.RawMessage(`{}`)), nil
	}
	if rt := optionsFrom(ctx).rt; rt != nil {
		return rt.hold(ctx, req)
	}
	if p.client.isModern() {
		if rt := p.trips.only(); rt != nil {
			return rt.hold(ctx, req)
		}
		p.log.Debug("the MCP server made a request outside any one client request, which a 2026-07-28 client cannot take",
			"method", sanitize(req.Method))
		return errorMsg(req.ID, codeMethodNotFound, "keyrelay: the client takes requests only as input_required results of its own requests"), nil
	}
	m, err := p.askClient(ctx, req.Method, req.Params)
	if err != nil {
		return nil, err
	}
	return &message{JSONRPC: "2.0", ID: req.ID, Result: m.Result, Error: m.Error}, nil
}

// askClient sends the client a request under an id of the proxy's and
// waits for its response.
func (p *Proxy) askClient(ctx context.Context, method string, params json.RawMessage) (*message, error) {
	id, answer := p.asks.open()
	defer p.asks.close(id)
	if err := p.out.send(&message{JSONRPC: "2.0", ID: id, Method: method, Params: params}); err != nil {
		return nil, err
	}
	select {
	case m := <-answer:
		return m, nil
	case <-ctx.Done():
		p.notify(ctx, "notifications/cancelled", map[string]any{"requestId": id, "reason": "the MCP server stopped waiting"})
		return nil, ctx.Err()
	}
}

// inputRequest is one of a 2026-07-28 result's inputRequests.
type inputRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// fulfil serves a 2025-era client's request whose 2026-07-28 result
// asks for input: it asks the client each input request as a request of
// its own, then retries req with inputResponses and the requestState, at
// most maxInputRounds times.
func (p *Proxy) fulfil(ctx context.Context, c *conn, req, resp *message) (*message, error) {
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
		params, err := withParam(req.Params, "inputResponses", answers)
		if err == nil && r.RequestState != "" {
			params, err = withParam(params, "requestState", r.RequestState)
		}
		if err != nil {
			return nil, err
		}
		if resp, err = c.tr.call(ctx, &message{JSONRPC: "2.0", ID: req.ID, Method: req.Method, Params: params}); err != nil {
			return nil, err
		}
	}
}

// askAll asks the client the input requests at once, and returns their
// results by key. A refusal or an error ends the request.
func (p *Proxy) askAll(ctx context.Context, reqs map[string]inputRequest) (map[string]json.RawMessage, error) {
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
			m, err := p.askClient(ctx, r.Method, r.Params)
			if err == nil && m.Error != nil {
				err = fmt.Errorf("the client refused %s: %s", sanitize(r.Method), sanitize(m.Error.Message))
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
