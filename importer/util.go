package importer

import "html"

func escape(s string) string { return html.EscapeString(s) }
