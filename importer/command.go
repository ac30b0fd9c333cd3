package importer

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"time"

	"go.mau.fi/util/shlex"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/mxconn"
)

// commandHelp is shown by `help` and on bad arguments.
const commandUsage = "<telegram|whatsapp> [--chat <+phone|group JID>] [--room <!portal room ID>] [--me <your name in the export>] [--tz <zone>] [--date-order <dmy|mdy|ymd>]"

func (im *Importer) commandHandler() *commands.FullHandler {
	return &commands.FullHandler{
		Func: im.fnImport,
		Name: "import",
		Help: commands.HelpMeta{
			Section: commands.HelpSectionChats,
			Description: "Import a chat's history from a Telegram Desktop export (result.json or a zip of the export folder) " +
				"or a WhatsApp \"Export chat\" (.zip or .txt): upload the file here, then reply to it with this command",
			Args: commandUsage,
		},
		RequiresLoginPermission: true,
	}
}

// parseCommandArgs reads `import` arguments; quoting works as in a shell (--me "Anna M").
func parseCommandArgs(raw string) (network string, opts Options, err error) {
	args, err := shlex.Split(raw)
	if err != nil {
		return "", opts, fmt.Errorf("arguments: %w", err)
	}
	if len(args) == 0 {
		return "", opts, fmt.Errorf("say which app the export is from: import %s", commandUsage)
	}
	network = args[0]
	for i := 1; i < len(args); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		var target *string
		switch name {
		case "--chat":
			target = &opts.Chat
		case "--room":
			target = &opts.Room
		case "--me":
			target = &opts.Me
		case "--tz":
			target = &opts.TZ
		case "--date-order":
			target = &opts.DateOrder
		default:
			return "", opts, fmt.Errorf("unknown option %q: import %s", args[i], commandUsage)
		}
		if !hasValue {
			if i+1 >= len(args) {
				return "", opts, fmt.Errorf("%s needs a value", name)
			}
			i++
			value = args[i]
		}
		*target = value
	}
	return network, opts, nil
}

func (im *Importer) fnImport(ce *commands.Event) {
	network, opts, err := parseCommandArgs(ce.RawArgs)
	if err != nil {
		ce.Reply("%s", err)
		return
	}
	req, err := opts.request(ce.User, network)
	if err != nil {
		ce.Reply("%s", err)
		return
	}
	fileEvt, err := im.findUpload(ce)
	if err != nil {
		ce.Reply("%s", err)
		return
	}
	msg := fileEvt.Content.AsMessage()
	req.FileName = safeBase(msg.GetFileName())
	status := ce.Reply("Importing %s…", req.FileName)
	go im.runFromCommand(ce, req, msg, status)
}

// findUpload finds the export: the file the command replies to, else the newest file the user
// sent in this room.
func (im *Importer) findUpload(ce *commands.Event) (*event.Event, error) {
	mc, ok := mxconn.Of(im.br.Matrix)
	if !ok {
		return nil, fmt.Errorf("this bridge cannot read uploads (no appservice connector)")
	}
	cli := mc.AS.BotClient()
	isFile := func(evt *event.Event) bool {
		if evt.Type == event.EventEncrypted && mc.Crypto != nil {
			if dec, err := mc.Crypto.Decrypt(ce.Ctx, evt); err == nil {
				*evt = *dec
			}
		}
		if evt.Type != event.EventMessage || evt.Sender != ce.User.MXID {
			return false
		}
		_ = evt.Content.ParseRaw(evt.Type)
		m := evt.Content.AsMessage()
		return m != nil && m.MsgType == event.MsgFile && (m.URL != "" || m.File != nil)
	}
	if ce.ReplyTo != "" {
		evt, err := cli.GetEvent(ce.Ctx, ce.RoomID, ce.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("read the message you replied to: %w", err)
		}
		if !isFile(evt) {
			return nil, fmt.Errorf("the message you replied to is not a file you sent: upload the export as a file, then reply to it with `import …`")
		}
		return evt, nil
	}
	resp, err := cli.Messages(ce.Ctx, ce.RoomID, "", "", mautrix.DirectionBackward, nil, 50)
	if err != nil {
		return nil, fmt.Errorf("look for your upload in this room: %w", err)
	}
	for _, evt := range resp.Chunk {
		if isFile(evt) {
			return evt, nil
		}
	}
	return nil, fmt.Errorf("no export found: upload the export file in this room, then reply to it with `import …`")
}

// runFromCommand downloads the upload, runs the import and keeps one message up to date with
// the progress, ending with the summary.
func (im *Importer) runFromCommand(ce *commands.Event, req *Request, msg *event.MessageEventContent, status id.EventID) {
	ctx := im.log.WithContext(im.br.BackgroundCtx)
	edit := func(text string) {
		if status == "" {
			ce.Reply("%s", text)
			return
		}
		content := &event.MessageEventContent{MsgType: event.MsgNotice, Body: "* " + text,
			NewContent: &event.MessageEventContent{MsgType: event.MsgNotice, Body: text},
			RelatesTo:  (&event.RelatesTo{}).SetReplace(status)}
		if _, err := ce.Bot.SendMessage(ctx, ce.OrigRoomID, event.EventMessage, &event.Content{Parsed: content}, nil); err != nil {
			im.log.Warn().Err(err).Msg("Failed to edit the import status message")
		}
	}
	uri := msg.URL
	if msg.File != nil {
		uri = msg.File.URL
	}
	data, err := ce.Bot.DownloadMedia(ctx, uri, msg.File)
	if err != nil {
		edit(fmt.Sprintf("Import failed: could not download %s: %v", req.FileName, err))
		return
	}
	dir, err := os.MkdirTemp("", "passerelle-import-")
	if err != nil {
		edit("Import failed: " + err.Error())
		return
	}
	defer os.RemoveAll(dir)
	if req.Path, req.FileName, err = stage(dir, req.Network, req.FileName, bytes.NewReader(data)); err != nil {
		edit("Import failed: " + err.Error())
		return
	}
	data = nil
	var last time.Time
	req.Progress = func(p Progress) {
		if time.Since(last) < 3*time.Second && p.Done < p.Total {
			return
		}
		last = time.Now()
		edit(ProgressText(p))
	}
	sum, err := im.Run(ctx, req)
	if err != nil {
		edit(fmt.Sprintf("Import failed, nothing was imported: %v", err))
		return
	}
	edit(SummaryText(sum))
}

// ProgressText is one line of progress for people.
func ProgressText(p Progress) string {
	pct := 0
	if p.Total > 0 {
		pct = p.Done * 100 / p.Total
	}
	text := fmt.Sprintf("Importing: %d/%d messages (%d%%), %d imported, %d skipped, %d failed", p.Done, p.Total, pct, p.Imported, p.Skipped, p.Failed)
	if p.ETAMS > 0 {
		text += fmt.Sprintf(", about %s left", (time.Duration(p.ETAMS) * time.Millisecond).Round(time.Second))
	}
	return text
}
