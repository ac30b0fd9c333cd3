package waexport

import (
	"bufio"
	"io"
	"strings"
)

// readVCard fills a contact's name and numbers from its .vcf, which
// WhatsApp writes as a plain vCard 3.0. Problems leave the contact as it
// was: the card is an extra, not the message.
func (e *Export) readVCard(c *Contact) {
	rc, err := e.OpenMedia(c.VCard)
	if err != nil {
		return
	}
	defer rc.Close()
	sc := bufio.NewScanner(io.LimitReader(rc, 1<<20))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		prop, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(prop, ";")
		// Grouped properties look like "item1.TEL".
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			name = name[i+1:]
		}
		switch strings.ToUpper(name) {
		case "FN":
			if value != "" {
				c.Name = value
			}
		case "TEL":
			if p := NormalizePhone(value); p != "" {
				c.Phones = append(c.Phones, p)
			} else if v := strings.TrimSpace(value); v != "" {
				c.Phones = append(c.Phones, v)
			}
		}
	}
}
