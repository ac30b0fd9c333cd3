package telegram

import (
	"context"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/telegram/msgconv"
)

// linkPreview bridges the web page preview Telegram attached to a message as an MSC4095
// bundled preview, with the page's photo uploaded as its image. A photo that cannot be fetched
// only costs the image: the card still carries the title and description.
func (c *Client) linkPreview(ctx context.Context, p *bridgev2.Portal, intent bridgev2.MatrixAPI, msg *tg.Message) *event.BeeperLinkPreview {
	preview, photo := msgconv.LinkPreview(msg.Message, msg.Entities, msg.Media)
	if preview == nil || photo == nil {
		return preview
	}
	log := zerolog.Ctx(ctx).With().Int("tg_msg_id", msg.ID).Logger()
	data, w, h, err := c.photoData(ctx, photo)
	if err != nil {
		log.Warn().Err(err).Msg("Failed to fetch the photo of a link preview")
		return preview
	}
	url, file, err := intent.UploadMedia(ctx, p.MXID, data, "preview.jpg", "image/jpeg")
	if err != nil {
		log.Warn().Err(err).Msg("Failed to upload the photo of a link preview")
		return preview
	}
	if file != nil {
		preview.ImageEncryption = file
		preview.ImageURL = file.URL
	} else {
		preview.ImageURL = url
	}
	preview.ImageType = "image/jpeg"
	preview.ImageSize = event.IntOrString(len(data))
	preview.ImageWidth, preview.ImageHeight = event.IntOrString(w), event.IntOrString(h)
	return preview
}

// previewURL is the link of a bundled Matrix link preview (MSC4095) that appears in the text
// sent to Telegram; "" when the event carries none.
func previewURL(content *event.MessageEventContent, text string) string {
	for _, p := range content.BeeperLinkPreviews {
		if p == nil {
			continue
		}
		for _, u := range []string{p.MatchedURL, p.CanonicalURL} {
			if u != "" && strings.Contains(text, u) {
				return u
			}
		}
	}
	return ""
}
