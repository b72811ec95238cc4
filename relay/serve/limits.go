package serve

import "fmt"

// MaxMessage bounds one JSON-RPC message (one line) on stdin. Serve reads
// a whole line into memory, so without a bound a client sending an endless
// line would grow the relay until the system kills it. The backend takes at
// most 1 MiB per tool call; 16 MiB leaves room for any real message.
const MaxMessage = 16 << 20

// ErrMessageTooLarge ends the stdio stream when a line exceeds MaxMessage.
var ErrMessageTooLarge = fmt.Errorf("serve: a message on stdin is over %d MiB", MaxMessage>>20)
