//go:build !windows

package platform

import "runtime"

func policyPath() string { return unixPolicyPath(runtime.GOOS) }
