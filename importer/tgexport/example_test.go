package tgexport_test

import (
	"fmt"
	"strings"

	"github.com/passerelle-bridge/passerelle/importer/tgexport"
)

func ExampleReader_All() {
	const export = `{
 "name": "Team", "type": "private_group", "id": 42,
 "messages": [
  {"id": 1, "type": "service", "date": "2024-01-02T10:00:00", "date_unixtime": "1704189600",
   "actor": "Ann", "actor_id": "user7", "action": "create_group", "title": "Team", "members": ["Bob"],
   "text": "", "text_entities": []},
  {"id": 2, "type": "message", "date": "2024-01-02T10:01:00", "date_unixtime": "1704189660",
   "from": "Bob", "from_id": "user8", "reply_to_message_id": 1,
   "text": ["Hi ", {"type": "bold", "text": "all"}],
   "text_entities": [{"type": "plain", "text": "Hi "}, {"type": "bold", "text": "all"}]}
 ]
}`
	r := tgexport.NewReader(strings.NewReader(export), tgexport.Options{Name: "result.json"})
	for m, err := range r.All() {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch {
		case m.Service != nil:
			fmt.Println(m.Key, m.Time.UTC().Format("15:04"), m.Sender.Name, m.Service.Action, m.Service.Title)
		default:
			fmt.Println(m.Key, m.Time.UTC().Format("15:04"), m.Sender.Name, m.Sender.ID, m.ReplyTo, m.Text.Plain, m.Text.HTML)
		}
	}
	// Output:
	// tg:42:1 10:00 Ann create_group Team
	// tg:42:2 10:01 Bob 8 1 Hi all Hi <strong>all</strong>
}
