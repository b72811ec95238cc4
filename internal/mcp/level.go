package mcp

// LoggingLevel is the severity of an MCP log message (RFC 5424 names).
type LoggingLevel string

// The levels, least severe first.
const (
	LoggingLevelDebug     LoggingLevel = "debug"
	LoggingLevelInfo      LoggingLevel = "info"
	LoggingLevelNotice    LoggingLevel = "notice"
	LoggingLevelWarning   LoggingLevel = "warning"
	LoggingLevelError     LoggingLevel = "error"
	LoggingLevelCritical  LoggingLevel = "critical"
	LoggingLevelAlert     LoggingLevel = "alert"
	LoggingLevelEmergency LoggingLevel = "emergency"
)

var levels = map[LoggingLevel]int{
	LoggingLevelDebug: 0, LoggingLevelInfo: 1, LoggingLevelNotice: 2, LoggingLevelWarning: 3,
	LoggingLevelError: 4, LoggingLevelCritical: 5, LoggingLevelAlert: 6, LoggingLevelEmergency: 7,
}

// Valid reports whether l is one of the eight levels.
func (l LoggingLevel) Valid() bool {
	_, ok := levels[l]
	return ok
}

// ShouldSendTo reports whether a message of level l passes a client's
// minimum level min. Unknown levels pass nothing.
func (l LoggingLevel) ShouldSendTo(min LoggingLevel) bool {
	a, okA := levels[l]
	b, okB := levels[min]
	return okA && okB && a >= b
}
