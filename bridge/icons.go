package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Each portal's m.bridge state shows its own network's icon. The icons are drawn here (no
// third-party artwork is shipped) and uploaded once per homeserver; the mxc URI is kept in the
// bridge's key-value table under a key that changes when the drawing does.

const iconSize = 128

// NetworkIcon draws the icon of network n as a PNG: a disc in the network's colour with a white
// mark (a speech bubble for WhatsApp, a paper plane for Telegram).
func NetworkIcon(n portal.Network) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, iconSize, iconSize))
	bg := color.NRGBA{R: 0x25, G: 0xD3, B: 0x66, A: 0xFF}
	if n == portal.Telegram {
		bg = color.NRGBA{R: 0x2A, G: 0xAB, B: 0xEE, A: 0xFF}
	}
	white := color.NRGBA{R: 0xFF, G: 0xFF, B: 0xFF, A: 0xFF}
	c := float64(iconSize) / 2
	for y := 0; y < iconSize; y++ {
		for x := 0; x < iconSize; x++ {
			px, py := float64(x)+0.5, float64(y)+0.5
			if math.Hypot(px-c, py-c) > c {
				continue
			}
			img.SetNRGBA(x, y, bg)
			if n == portal.Telegram {
				if inTriangle(px, py, [3][2]float64{{28, 62}, {100, 32}, {84, 98}}) {
					img.SetNRGBA(x, y, white)
				}
			} else {
				d := math.Hypot(px-c, py-c+4)
				tail := inTriangle(px, py, [3][2]float64{{30, 104}, {38, 76}, {56, 92}})
				if (d < 40 && d > 30) || tail {
					img.SetNRGBA(x, y, white)
				}
			}
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func inTriangle(x, y float64, t [3][2]float64) bool {
	sign := func(a, b [2]float64) float64 { return (x-b[0])*(a[1]-b[1]) - (a[0]-b[0])*(y-b[1]) }
	d1, d2, d3 := sign(t[0], t[1]), sign(t[1], t[2]), sign(t[2], t[0])
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// uploadIcons makes sure each enabled network's icon is on the homeserver. A failure only
// leaves m.bridge without an avatar, so it is logged, not fatal.
func (c *Connector) uploadIcons(ctx context.Context) {
	log := zerolog.Ctx(ctx)
	c.icons = map[portal.Network]id.ContentURIString{}
	for _, n := range c.Enabled() {
		data := NetworkIcon(n.Network())
		sum := sha256.Sum256(data)
		key := database.Key("passerelle_icon_" + string(n.Network()) + "_" + hex.EncodeToString(sum[:8]))
		if mxc := c.Bridge.DB.KV.Get(ctx, key); mxc != "" {
			c.icons[n.Network()] = id.ContentURIString(mxc)
			continue
		}
		upCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		mxc, _, err := c.Bridge.Bot.UploadMedia(upCtx, "", data, string(n.Network())+".png", "image/png")
		cancel()
		if err != nil {
			log.Warn().Err(fmt.Errorf("upload %s icon: %w", n.Network().Name(), err)).Msg("Portals will show no network icon")
			continue
		}
		c.Bridge.DB.KV.Set(ctx, key, string(mxc))
		c.icons[n.Network()] = mxc
	}
}
