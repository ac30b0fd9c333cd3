package telegram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/telegram/msgconv"
)

// maxFileSize is what the bridge downloads from Telegram for one message.
func (c *Client) maxFileSize() int64 {
	if n := c.main.maxFileSize; n > 0 {
		return n
	}
	return 50 << 20
}

func (c *Client) download(ctx context.Context, loc tg.InputFileLocationClass, size int64) ([]byte, error) {
	if size > c.maxFileSize() {
		return nil, fmt.Errorf("file of %d bytes is larger than the bridge's limit of %d bytes", size, c.maxFileSize())
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := downloader.NewDownloader().Download(api, loc).Stream(ctx, &buf); err != nil {
		return nil, fmt.Errorf("download from Telegram: %w", err)
	}
	return buf.Bytes(), nil
}

// convertMedia downloads a message's media and uploads it to Matrix, or describes media that
// has no Matrix file form (locations, contacts, polls, dice). caption is the converted text.
func (c *Client) convertMedia(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *tg.Message, caption *event.MessageEventContent) (*bridgev2.ConvertedMessagePart, error) {
	var desc *msgconv.MediaDescription
	switch m := msg.Media.(type) {
	case *tg.MessageMediaPhoto:
		photo, ok := m.Photo.(*tg.Photo)
		if !ok {
			return c.notice(caption, "🖼 A photo that is no longer available"), nil
		}
		data, w, h, err := c.photoData(ctx, photo)
		if errors.Is(err, errNoPhotoSize) {
			return c.notice(caption, "🖼 A photo without any size"), nil
		} else if err != nil {
			return c.notice(caption, fmt.Sprintf("🖼 A photo the bridge could not fetch: %v", err)), nil
		}
		return c.uploadPart(ctx, p, intent, caption, data, msgconv.MediaDescription{
			MsgType: event.MsgImage, FileName: "photo.jpg", MimeType: "image/jpeg", Width: w, Height: h,
		})
	case *tg.MessageMediaDocument:
		doc, ok := m.Document.(*tg.Document)
		if !ok {
			return c.notice(caption, "📎 A file that is no longer available"), nil
		}
		d := msgconv.DescribeDocument(doc, m.Round, m.Voice)
		data, err := c.download(ctx, doc.AsInputDocumentFileLocation(""), doc.Size)
		if err != nil {
			return c.notice(caption, fmt.Sprintf("📎 %s the bridge could not fetch: %v", d.FileName, err)), nil
		}
		return c.uploadPart(ctx, p, intent, caption, data, d)
	case *tg.MessageMediaGeoLive:
		desc = msgconv.DescribeLiveLocation(m, msg.Date, max(msg.EditDate, int(time.Now().Unix())))
	default:
		desc = msgconv.DescribeMedia(msg.Media)
	}
	if desc == nil {
		return nil, nil
	}
	content := desc.Content
	if caption.Body != "" && desc.KeepCaption {
		content.Body = content.Body + "\n\n" + caption.Body
		if caption.FormattedBody != "" || content.FormattedBody != "" {
			content.Format = event.FormatHTML
			content.FormattedBody = orEscaped(content) + "<br/><br/>" + orEscaped(caption)
		}
	}
	return &bridgev2.ConvertedMessagePart{Type: desc.EventType, Content: content, Extra: desc.Extra}, nil
}

var errNoPhotoSize = errors.New("the photo has no size to download")

// photoData downloads the largest size of a photo.
func (c *Client) photoData(ctx context.Context, photo *tg.Photo) (data []byte, w, h int, err error) {
	size, w, h, bytesLen := largestSize(photo.Sizes)
	if size == "" {
		return nil, 0, 0, errNoPhotoSize
	}
	data, err = c.download(ctx, &tg.InputPhotoFileLocation{ID: photo.ID, AccessHash: photo.AccessHash, FileReference: photo.FileReference, ThumbSize: size}, int64(bytesLen))
	return data, w, h, err
}

func orEscaped(c *event.MessageEventContent) string {
	if c.FormattedBody != "" {
		return c.FormattedBody
	}
	return strings.ReplaceAll(event.TextToHTML(c.Body), "\n", "<br/>")
}

func (c *Client) notice(caption *event.MessageEventContent, text string) *bridgev2.ConvertedMessagePart {
	body := text
	if caption.Body != "" {
		body += "\n\n" + caption.Body
	}
	return &bridgev2.ConvertedMessagePart{Type: event.EventMessage, Content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: body}}
}

func largestSize(sizes []tg.PhotoSizeClass) (typ string, w, h, size int) {
	for _, s := range sizes {
		switch s := s.(type) {
		case *tg.PhotoSize:
			if s.W*s.H > w*h {
				typ, w, h, size = s.Type, s.W, s.H, s.Size
			}
		case *tg.PhotoSizeProgressive:
			if s.W*s.H > w*h {
				maxSize := 0
				for _, v := range s.Sizes {
					maxSize = max(maxSize, v)
				}
				typ, w, h, size = s.Type, s.W, s.H, maxSize
			}
		}
	}
	return
}

func (c *Client) uploadPart(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, caption *event.MessageEventContent, data []byte, d msgconv.MediaDescription) (*bridgev2.ConvertedMessagePart, error) {
	if d.EventType.Type == "" {
		d.EventType = event.EventMessage
	}
	url, file, err := intent.UploadMedia(ctx, p.MXID, data, d.FileName, d.MimeType)
	if err != nil {
		return nil, fmt.Errorf("upload %s to Matrix: %w", d.FileName, err)
	}
	content := d.FileContent(len(data))
	if file != nil {
		content.File = file
	} else {
		content.URL = url
	}
	if caption.Body != "" && d.EventType != event.EventSticker {
		content.Body = caption.Body
		content.Format, content.FormattedBody = caption.Format, caption.FormattedBody
		content.FileName = d.FileName
	}
	return &bridgev2.ConvertedMessagePart{Type: d.EventType, Content: content, Extra: d.Extra}, nil
}

// uploadToTelegram sends a Matrix file to Telegram's file storage.
func (c *Client) uploadToTelegram(ctx context.Context, api *tg.Client, name string, data []byte) (tg.InputFileClass, error) {
	f, err := uploader.NewUploader(api).FromBytes(ctx, name, data)
	if err != nil {
		return nil, fmt.Errorf("upload %s to Telegram: %w", name, err)
	}
	return f, nil
}
