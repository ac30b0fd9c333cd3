package tgexport

import (
	"strconv"
	"strings"
)

// jsonPath is a stack of path segments, formatted only when needed.
type jsonPath []string

func (p jsonPath) String() string {
	var b strings.Builder
	b.WriteString("$")
	for _, s := range p {
		b.WriteString(s)
	}
	return b.String()
}

func key(k string) string { return "." + k }

func index(i int) string { return "[" + strconv.Itoa(i) + "]" }
