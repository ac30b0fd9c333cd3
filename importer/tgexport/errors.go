package tgexport

import (
	"errors"
	"fmt"
)

// ErrNotExport is wrapped by errors for files that are valid JSON but not a
// Telegram Desktop export.
var ErrNotExport = errors.New("not a Telegram Desktop JSON export")

// Error locates a problem in an export: the file, the JSON path and the
// byte offset at which reading stopped.
type Error struct {
	// File is the name given in Options.Name (usually the result.json path).
	File string
	// Path is a JSON path such as "$.chats.list[2].messages[17].date".
	Path string
	// Offset is the byte offset in the file where the decoder was.
	Offset int64
	Err    error
}

func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "result.json"
	}
	return fmt.Sprintf("%s: %s (byte %d): %v", file, e.Path, e.Offset, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }
