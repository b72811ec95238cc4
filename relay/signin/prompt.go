package signin

import "strings"

// Prompt is a sign-in waiting for the person: the page to open (and the
// code to enter, for the device grant), the authorization server it
// belongs to, and the server the sign-in is for. Naming both lets the
// person notice a page on a host they did not expect: the authorization
// server is the remote server's choice, and a hostile one can name any
// page (P3).
type Prompt struct {
	URL      string // the authorization URL, or the device grant's verification URI
	UserCode string // the device grant's code; "" for a browser sign-in
	Issuer   string // the authorization server
	Server   string // the MCP server or backend the sign-in is for
	// Warning, when set, says why the page deserves a second look.
	Warning string
}

// Text is the prompt in one line.
func (p Prompt) Text() string {
	var b strings.Builder
	b.WriteString("Sign-in needed")
	if p.Server != "" {
		b.WriteString(" for " + p.Server)
	}
	if p.Issuer != "" {
		b.WriteString(" at " + p.Issuer)
	}
	if p.UserCode != "" {
		b.WriteString(": open " + p.URL + " on any device and enter the code " + p.UserCode)
	} else {
		b.WriteString(". If no browser opened, open this URL: " + p.URL)
	}
	if p.Warning != "" {
		b.WriteString(". " + p.Warning)
	}
	return b.String()
}
