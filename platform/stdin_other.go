//go:build !unix

package platform

import "os"

// pollableStdin returns os.Stdin: only Unix pipes and sockets are switched.
func pollableStdin() (*os.File, func()) { return os.Stdin, func() {} }
