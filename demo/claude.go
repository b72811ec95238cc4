package main

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
)

// backendAddr is bin/backend's default listen address (backend/config.go):
// the demo's backend uses it when it is free, and the lines it prints at
// the end point at it.
const backendAddr = "127.0.0.1:5002"

// printClaudeConfig prints how to keep a backend running and the lines
// that add the relay to Claude Code, both for the same address: the
// demo's own backend has stopped, so its address (a random port when
// backendAddr was busy) would lead nowhere.
func (d *demo) printClaudeConfig(w io.Writer) {
	relay, _ := filepath.Abs(filepath.Join(d.bin, "relay"))
	backend := filepath.Join(d.bin, "backend")
	fmt.Fprintln(w, "\n== 5. add the relay to Claude Code")
	fmt.Fprintln(w, "   the demo's backend has stopped; start one that keeps running (it prints the password of its user \"demo\"):")
	addr := backendAddr
	if d.busy {
		addr = freeAddr()
		fmt.Fprintf(w, "   %s, its default address, is busy on this machine; %s was free just now\n", backendAddr, addr)
		fmt.Fprintln(w, "   (--addr, or BACKEND_ADDR, sets the address):")
		fmt.Fprintf(w, "\n     %s --auth-server --addr %s\n\n", backend, addr)
	} else {
		fmt.Fprintf(w, "\n     %s --auth-server\n\n", backend)
	}
	url := "http://" + addr
	fmt.Fprintf(w, "   then add the relay to Claude Code, for the backend on %s:\n", addr)
	fmt.Fprintf(w, "\n     claude mcp add keyrelay --env RELAY_BACKEND_URL=%s --env RELAY_AUTH_SERVER_URL=%s -- %s serve\n\n", url, url, relay)
	fmt.Fprintf(w, "   or in .mcp.json:\n")
	fmt.Fprintf(w, `   {
     "mcpServers": {
       "keyrelay": {
         "command": %q,
         "args": ["serve"],
         "env": {"RELAY_BACKEND_URL": %q, "RELAY_AUTH_SERVER_URL": %q}
       }
     }
   }
`, relay, url, url)
}

// freeAddr is the first loopback address from port 5003 on that nothing
// listens on now, for a backend to run on after the demo; 127.0.0.1:0's
// pick if none of the next hundred is free.
func freeAddr() string {
	for port := 5003; port < 5103; port++ {
		a := fmt.Sprintf("127.0.0.1:%d", port)
		if ln, err := net.Listen("tcp", a); err == nil {
			ln.Close()
			return a
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return backendAddr
	}
	defer ln.Close()
	return ln.Addr().String()
}
