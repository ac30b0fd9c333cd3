// Package demo runs Passerelle with nothing but this machine: a Dendrite homeserver, the bridge
// binary on an SQLite database, and the project's own Telegram and WhatsApp test servers with a
// few simulated people who answer. Everything the user sees in Matrix is the real bridge talking
// real MTProto and the real WhatsApp web protocol to those servers; only the people are scripted.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// The simulated people. The user's own accounts are "Camille Martin" on both networks.
const (
	TelegramYou       = "+33600000001"
	TelegramDominique = "+33600000002"
	TelegramSacha     = "+33600000003"
	WhatsAppYou       = "33611111111"
	WhatsAppZoe       = "33611111112"
	WhatsAppNoah      = "33611111113"

	// The test server accepts any API ID; these only satisfy the bridge's config check.
	telegramAPIID   = 12345
	telegramAPIHash = "0123456789abcdef0123456789abcdef"
)

// Options configure a demo.
type Options struct {
	// Dir keeps the homeserver, bridge config and database between runs.
	Dir string
	// HomeserverAddr is where Dendrite listens, e.g. 127.0.0.1:8008; empty picks a free port.
	HomeserverAddr string
	// TelegramAddr is where the Telegram test server listens; empty picks a free port.
	TelegramAddr string
	// UserLocalpart is the Matrix account to create (password hstest.Password(localpart));
	// empty means "demo". With SkipUser the caller registers it.
	UserLocalpart string
	SkipUser      bool
	// Out receives login codes and what the simulated people do.
	Out io.Writer
	Log zerolog.Logger
}

// Demo is a running demo.
type Demo struct {
	HS       *hstest.Homeserver
	Bridge   *bridgetest.Bridge
	Telegram *tgtestserver.Server
	WhatsApp *watestserver.Server
	User     id.UserID
	Password string

	dir       string
	out       io.Writer
	outMu     sync.Mutex
	waPhones  []*watestserver.Phone
	waGroup   types.JID
	restoreWA func()
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

func (d *Demo) printf(format string, args ...any) {
	d.outMu.Lock()
	defer d.outMu.Unlock()
	fmt.Fprintf(d.out, format, args...)
}

// Start brings everything up. Close stops it.
func Start(ctx context.Context, opts Options) (_ *Demo, err error) {
	if opts.Dir == "" {
		return nil, errors.New("demo: Options.Dir is required")
	}
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.UserLocalpart == "" {
		opts.UserLocalpart = "demo"
	}
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	if err = os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: create %s: %w", opts.Dir, err)
	}
	bgCtx, stop := context.WithCancel(context.Background())
	d := &Demo{out: opts.Out, stop: stop}
	defer func() {
		if err != nil {
			_ = d.Close()
		}
	}()

	if err = d.startTelegram(bgCtx, opts); err != nil {
		return nil, err
	}
	if err = d.startWhatsApp(ctx, bgCtx, opts); err != nil {
		return nil, err
	}

	d.HS, err = hstest.Launch(ctx, hstest.Options{Dir: filepath.Join(opts.Dir, "dendrite"), Addr: opts.HomeserverAddr})
	if err != nil {
		return nil, fmt.Errorf("demo: start the homeserver: %w", err)
	}
	binary, err := bridgetest.BuildBinary(ctx, filepath.Join(opts.Dir, "bin"))
	if err != nil {
		return nil, fmt.Errorf("demo: build passerelle: %w", err)
	}
	bridgeDir := filepath.Join(opts.Dir, "bridge")
	edit := d.networkSettings
	if _, statErr := os.Stat(filepath.Join(bridgeDir, "config.yaml")); statErr == nil {
		// A second run reuses the config: point it at this run's test servers.
		if err = bridgetest.EditConfig(filepath.Join(bridgeDir, "config.yaml"), edit); err != nil {
			return nil, err
		}
	}
	d.Bridge, err = bridgetest.Launch(ctx, bridgetest.Options{
		Binary:      binary,
		Engine:      "sqlite3-fk-wal",
		Homeserver:  d.HS,
		Dir:         bridgeDir,
		LogLevel:    "info",
		Permissions: map[string]string{"localhost": "user", "@" + opts.UserLocalpart + ":localhost": "admin"},
		Edit:        edit,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: start the bridge: %w", err)
	}
	d.User = hstest.UserID(opts.UserLocalpart)
	d.Password = hstest.Password(opts.UserLocalpart)
	if !opts.SkipUser {
		if _, err = d.HS.RegisterUser(ctx, opts.UserLocalpart, d.Password); err != nil && !strings.Contains(err.Error(), "M_USER_IN_USE") {
			return nil, fmt.Errorf("demo: create the Matrix user: %w", err)
		}
		err = nil
	}
	return d, nil
}

// networkSettings points the bridge's network sections at this run's test servers.
func (d *Demo) networkSettings(cfg bridgetest.Config) error {
	keys := []any{}
	for _, k := range d.Telegram.PublicKeysPEM() {
		keys = append(keys, k)
	}
	for _, s := range []struct {
		value any
		path  []string
	}{
		{telegramAPIID, []string{"network", "telegram", "api_id"}},
		{telegramAPIHash, []string{"network", "telegram", "api_hash"}},
		{d.Telegram.DC(), []string{"network", "telegram", "server", "dc"}},
		{[]any{map[string]any{"id": d.Telegram.DC(), "address": d.Telegram.Addr()}}, []string{"network", "telegram", "server", "dc_options"}},
		{keys, []string{"network", "telegram", "server", "public_keys"}},
		{d.WhatsApp.ProxyURL(), []string{"network", "whatsapp", "proxy"}},
		{d.WhatsApp.RootPublicKeyBase64(), []string{"network", "whatsapp", "server", "root_public_key"}},
		{d.waCAFile(), []string{"network", "whatsapp", "server", "ca_file"}},
	} {
		if err := cfg.Set(s.value, s.path...); err != nil {
			return err
		}
	}
	return nil
}

// waCAFile is the test server's CA certificate, which the bridge config points at.
func (d *Demo) waCAFile() string { return filepath.Join(d.dir, "whatsapp-test-ca.pem") }

func (d *Demo) startTelegram(ctx context.Context, opts Options) error {
	srv, err := tgtestserver.New(tgtestserver.Options{
		Addr:    opts.TelegramAddr,
		KeyFile: filepath.Join(opts.Dir, "telegram-server-key.pem"),
		Logger:  opts.Log.With().Str("component", "telegram-test-server").Logger(),
		OnCode: func(phone, code string) {
			d.printf("📱 Telegram sent the login code %s to +%s\n", code, strings.TrimPrefix(phone, "+"))
		},
	})
	if err != nil {
		return fmt.Errorf("demo: telegram test server: %w", err)
	}
	if err = srv.Start(ctx); err != nil {
		return fmt.Errorf("demo: start the telegram test server: %w", err)
	}
	d.Telegram = srv
	you, err := srv.CreateUser(tgtestserver.UserSpec{Phone: TelegramYou, FirstName: "Camille", LastName: "Martin", Username: "camille_martin"})
	if err != nil {
		return err
	}
	dominique, err := srv.CreateUser(tgtestserver.UserSpec{Phone: TelegramDominique, FirstName: "Dominique", LastName: "Durand", Username: "dominique_durand", About: "Conseillère, ministère de l'Intérieur"})
	if err != nil {
		return err
	}
	sacha, err := srv.CreateUser(tgtestserver.UserSpec{Phone: TelegramSacha, FirstName: "Sacha", LastName: "Petit", Username: "sacha_petit"})
	if err != nil {
		return err
	}
	// Zoé uses both apps: `start-chat +33611111112` must pick WhatsApp, the first network tried.
	zoe, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+" + WhatsAppZoe, FirstName: "Zoé", LastName: "Bernard"})
	if err != nil {
		return err
	}
	for _, a := range []*tgtestserver.Actor{dominique, sacha, zoe} {
		_ = you.AddContact(a.ID())
		_ = a.AddContact(you.ID())
	}
	group, err := dominique.CreateGroup("Cabinet — coordination", you.ID(), sacha.ID())
	if err != nil {
		return err
	}
	if _, err = sacha.SendText(tgtestserver.ChatPeer(group), "Réunion de coordination demain à 9 h, salle Marianne."); err != nil {
		return err
	}
	// Contacts answer the user only, never each other (two of them share a group).
	answer := func(name string) tgtestserver.ResponderFunc {
		return func(me *tgtestserver.Actor, in tgtestserver.Incoming) {
			if in.From != you.ID() {
				return
			}
			_ = me.Read(in.Peer, in.ID)
			_ = me.Typing(in.Peer, &tg.SendMessageTypingAction{})
			time.Sleep(700 * time.Millisecond)
			_ = me.React(in.Peer, in.ID, "👍")
			reply := fmt.Sprintf("%s ici. Bien reçu : « %s »", name, in.Text)
			if in.Media != "" {
				reply = fmt.Sprintf("%s ici. Merci pour le fichier (%s).", name, in.Media)
			}
			if _, err := me.SendText(in.Peer, reply); err == nil {
				d.printf("💬 Telegram: %s answered %q\n", name, in.Text)
			}
		}
	}
	srv.SetResponder(dominique.ID(), answer("Dominique"))
	srv.SetResponder(sacha.ID(), answer("Sacha"))
	return nil
}

func (d *Demo) startWhatsApp(ctx, bgCtx context.Context, opts Options) error {
	waLog := opts.Log.With().Str("component", "whatsapp-test-server").Logger()
	srv, err := watestserver.Start(watestserver.Options{Log: &waLog})
	if err != nil {
		return fmt.Errorf("demo: whatsapp test server: %w", err)
	}
	d.WhatsApp = srv
	d.restoreWA = srv.TrustRoot()
	d.dir = opts.Dir
	if err = srv.WriteCAFile(d.waCAFile()); err != nil {
		return err
	}
	if _, err = srv.CreateAccount(WhatsAppYou, "Camille Martin"); err != nil {
		return err
	}
	people := []struct{ phone, name string }{{WhatsAppZoe, "Zoé Bernard"}, {WhatsAppNoah, "Noah Lefèvre"}}
	for _, p := range people {
		phone, err := srv.NewPhone(ctx, p.phone, watestserver.PhoneOptions{PushName: p.name})
		if err != nil {
			return fmt.Errorf("demo: %s's phone: %w", p.name, err)
		}
		d.waPhones = append(d.waPhones, phone)
		first, _, _ := strings.Cut(p.name, " ")
		d.wg.Add(1)
		go d.answerWhatsApp(bgCtx, phone, first)
	}
	if d.waGroup, err = srv.CreateGroup(ctx, WhatsAppZoe, "Famille", WhatsAppYou, WhatsAppNoah); err != nil {
		return fmt.Errorf("demo: whatsapp group: %w", err)
	}
	return nil
}

// greetOnWhatsApp has the contacts write once the user's phone linked Passerelle, so chats appear.
func (d *Demo) greetOnWhatsApp(ctx context.Context) {
	time.Sleep(3 * time.Second)
	you := types.NewJID(WhatsAppYou, types.DefaultUserServer)
	if len(d.waPhones) > 0 {
		_, _ = d.waPhones[0].SendText(ctx, you, "Coucou Camille ! Tu me reçois sur Matrix ?")
	}
	if len(d.waPhones) > 1 {
		_, _ = d.waPhones[1].SendText(ctx, d.waGroup, "Bonjour la famille, dîner dimanche ?")
	}
}

// answerWhatsApp makes a contact's phone read, react to and answer every message it gets.
func (d *Demo) answerWhatsApp(ctx context.Context, phone *watestserver.Phone, name string) {
	defer d.wg.Done()
	from := 0
	for {
		// Contacts answer the user only, never each other (two of them share a group).
		msg, idx, err := watestserver.WaitFor(ctx, phone.Events, from, func(m *events.Message) bool {
			return !m.Info.IsFromMe && d.fromYouOnWhatsApp(m.Info.Sender, m.Info.SenderAlt)
		})
		if err != nil {
			return
		}
		from = idx + 1
		chat, sender := msg.Info.Chat, msg.Info.Sender.ToNonAD()
		_ = phone.MarkRead(ctx, chat, sender, msg.Info.ID)
		time.Sleep(500 * time.Millisecond)
		_, _ = phone.React(ctx, chat, sender, msg.Info.ID, "❤️")
		text := msg.Message.GetConversation()
		if text == "" {
			text = msg.Message.GetExtendedTextMessage().GetText()
		}
		reply := fmt.Sprintf("%s ici. Bien reçu : « %s »", name, text)
		if text == "" {
			reply = fmt.Sprintf("%s ici. Merci !", name)
		}
		to := chat
		if chat.Server == types.DefaultUserServer || chat.Server == types.HiddenUserServer {
			to = sender
		}
		if _, err := phone.SendText(ctx, to, reply); err == nil {
			d.printf("💬 WhatsApp: %s answered %q\n", name, text)
		}
	}
}

// fromYouOnWhatsApp tells whether a sender (phone or LID form) is the user's own account.
func (d *Demo) fromYouOnWhatsApp(jids ...types.JID) bool {
	lid, _ := d.WhatsApp.AccountLID(WhatsAppYou)
	for _, j := range jids {
		if j.User == WhatsAppYou || (!lid.IsEmpty() && j.User == lid.User) {
			return true
		}
	}
	return false
}

var pairingCodeRe = regexp.MustCompile(`^[A-Z0-9]{4}-?[A-Z0-9]{4}$`)

// PhoneInput is what the user types into the demo's terminal, which plays their phone: the QR
// text the bot shows for `login whatsapp-qr`, or the code it shows for `login whatsapp-phone`.
func (d *Demo) PhoneInput(ctx context.Context, line string) (string, error) {
	line = strings.Trim(line, " \t`")
	switch {
	case line == "":
		return "", nil
	case strings.HasPrefix(line, "2@"):
		jid, err := d.WhatsApp.ScanQR(ctx, WhatsAppYou, line)
		if err != nil {
			return "", fmt.Errorf("scan the QR code: %w", err)
		}
		go d.greetOnWhatsApp(context.WithoutCancel(ctx))
		return fmt.Sprintf("Your phone (+%s) scanned the QR code: Passerelle is linked as %s", WhatsAppYou, jid), nil
	case pairingCodeRe.MatchString(strings.ToUpper(line)):
		jid, err := d.WhatsApp.EnterPairingCode(ctx, WhatsAppYou, strings.ToUpper(line))
		if err != nil {
			return "", fmt.Errorf("enter the pairing code: %w", err)
		}
		go d.greetOnWhatsApp(context.WithoutCancel(ctx))
		return fmt.Sprintf("Your phone (+%s) accepted the code: Passerelle is linked as %s", WhatsAppYou, jid), nil
	default:
		return "", fmt.Errorf("paste the QR text (it starts with 2@) or the 8-character pairing code the bot shows")
	}
}

// Instructions is what the demo prints once everything runs.
func (d *Demo) Instructions() string {
	return fmt.Sprintf(`
Passerelle demo is running — no account anywhere needed.

  Homeserver:  %s   (server name: localhost)
  Log in as:   %s   password: %s
  Bridge bot:  %s

In any Matrix client (Element: "Edit" the homeserver, use the URL above), start a direct chat
with the bridge bot and type:

  help
  login telegram-phone      phone %s, then the code printed here
  login whatsapp-phone      phone +%s, then type the code the bot shows into THIS terminal
                            (this terminal is your phone; login whatsapp-qr works too: paste the
                            QR text the bot shows)
  start-chat %s      Dominique (Telegram) answers every message
  start-chat +%s       Zoé (WhatsApp) answers every message

Group chats appear by themselves: "Cabinet — coordination" (Telegram) and "Famille" (WhatsApp).
Data is kept in %s; Ctrl-C stops everything.
`, d.HS.URL, d.User, d.Password, d.Bridge.Bot, TelegramYou, WhatsAppYou, TelegramDominique, WhatsAppZoe, filepath.Dir(d.Bridge.Dir))
}

// Close stops the bridge, the homeserver and the test servers.
func (d *Demo) Close() error {
	var errs []error
	if d.Bridge != nil {
		errs = append(errs, d.Bridge.Close())
	}
	if d.HS != nil {
		errs = append(errs, d.HS.Close())
	}
	if d.stop != nil {
		d.stop()
	}
	for _, p := range d.waPhones {
		p.Close()
	}
	d.wg.Wait()
	if d.WhatsApp != nil {
		d.WhatsApp.Close()
	}
	if d.restoreWA != nil {
		d.restoreWA()
	}
	if d.Telegram != nil {
		errs = append(errs, d.Telegram.Close())
	}
	return errors.Join(errs...)
}
