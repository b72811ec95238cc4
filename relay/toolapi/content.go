package toolapi

import (
	"encoding/json"
	"errors"
)

// textContent is a text content block. Text blocks, nearly all of them,
// are decoded and encoded again, with the known fields only, as mcp-go
// did; see content.
type textContent struct {
	Annotations *annotations    `json:"annotations,omitempty"`
	Meta        *map[string]any `json:"_meta,omitempty"` // a pointer: {} is kept
	Type        string          `json:"type"`
	Text        string          `json:"text"`
}

type annotations struct {
	Audience     []string `json:"audience,omitempty"`
	Priority     *float64 `json:"priority,omitempty"`
	LastModified string   `json:"lastModified,omitempty"`
}

// contentTypes are the content block types passed on.
var contentTypes = map[string]bool{"text": true, "image": true, "audio": true, "resource_link": true,
	"resource": true, "tool_use": true, "tool_result": true}

var errContent = errors.New("unreadable content block")

// content checks one content block from the backend: an object whose type
// is a known content type. A text block is returned re-encoded (known
// fields only); the others are passed on as sent.
func content(raw json.RawMessage) (json.RawMessage, error) {
	var head struct {
		Type any `json:"type"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return nil, errContent
	}
	t, ok := head.Type.(string)
	if !ok || !contentTypes[t] {
		return nil, errContent
	}
	if t != "text" {
		return raw, nil
	}
	var c textContent
	if json.Unmarshal(raw, &c) != nil {
		return nil, errContent
	}
	return json.Marshal(c)
}
