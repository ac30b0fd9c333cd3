package waexport_test

import (
	"fmt"
	"strings"

	"github.com/passerelle-bridge/passerelle/importer/waexport"
)

func ExampleParse() {
	const chat = "[31/12/2023, 21:41:05] Trip: \u200eAnn created group \u201cTrip\u201d\n" +
		"[31/12/2023, 21:42:00] Ann: Bring *warm* clothes\nand boots\n" +
		"[31/12/2023, 21:43:10] +33 6 12 34 56 78: \u200e<attached: 00000003-PHOTO-2023-12-31-21-43-10.jpg>\n"
	exp, err := waexport.Parse(strings.NewReader(chat), waexport.Options{Name: "_chat.txt"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(exp.Platform, exp.DateOrder)
	for _, m := range exp.Messages {
		switch {
		case m.Service != nil:
			fmt.Printf("%d %s %s %q\n", m.Line, m.Service.Action, m.Service.Actor.Name, m.Service.Subject)
		case m.Media != nil:
			fmt.Printf("%d %s %s %s\n", m.Line, m.Sender.Phone, m.Media.Kind, m.Media.Path)
		default:
			fmt.Printf("%d %s %q %q\n", m.Line, m.Sender.Name, m.Text.Plain, m.Text.HTML)
		}
	}
	// Output:
	// ios day/month/year
	// 1 create_group Ann "Trip"
	// 2 Ann "Bring *warm* clothes\nand boots" "Bring <strong>warm</strong> clothes<br>and boots"
	// 4 +33612345678 photo 00000003-PHOTO-2023-12-31-21-43-10.jpg
}
