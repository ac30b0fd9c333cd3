package main

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/passerelle-bridge/passerelle/importer"
)

// `passerelle import` does not touch the database or the homeserver itself: it sends the export
// to the running bridge (the endpoint importer.RegisterCommands adds, authenticated with the
// provisioning shared secret from the config file), which runs the import in its own process
// with its own connections, caches and locks. See importer/doc.go for why.

const importUsage = `Usage: passerelle import telegram|whatsapp PATH --user @you:server [options]

Imports a chat's history from an app export into Matrix through the running bridge.
PATH is a Telegram Desktop export folder, its result.json or a zip of the folder; or a
WhatsApp "Export chat" .zip or .txt.

Options:
`

// importArgs are the parsed command-line arguments.
type importArgs struct {
	network, path, user, config, bridgeURL string
	opts                                   importer.Options
	plain, json                            bool
}

func parseImportArgs(args []string, stderr io.Writer) (*importArgs, error) {
	a := &importArgs{}
	fs := flag.NewFlagSet("passerelle import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, importUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&a.user, "user", "", "Matrix ID of the person whose history this is (required)")
	fs.StringVar(&a.config, "c", "config.yaml", "bridge config file (for the bridge's address and provisioning shared secret)")
	fs.StringVar(&a.config, "config", "config.yaml", "same as -c")
	fs.StringVar(&a.bridgeURL, "bridge", "", "bridge base URL, if not the appservice listener from the config")
	fs.StringVar(&a.opts.Room, "room", "", "portal room ID (!…) of the chat: the history goes to an archive room linked from it")
	fs.StringVar(&a.opts.Chat, "chat", "", "WhatsApp chat the export is from: +phone for a DM, group JID (…@g.us) for a group")
	fs.StringVar(&a.opts.Me, "me", "", "the name you appear under in a WhatsApp export")
	fs.StringVar(&a.opts.TZ, "tz", "", "time zone of the exporting device, e.g. Europe/Paris (default UTC)")
	fs.StringVar(&a.opts.DateOrder, "date-order", "", "WhatsApp date order if detection is wrong: dmy, mdy or ymd")
	fs.BoolVar(&a.plain, "plain", false, "print progress as lines instead of a bar")
	fs.BoolVar(&a.json, "json", false, "print the summary as JSON")
	// Flags may come after the positional arguments: parse, take one positional, repeat.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) != 2 {
		fs.Usage()
		return nil, errors.New("give the app (telegram or whatsapp) and the PATH of the export")
	}
	a.network, a.path = strings.ToLower(positional[0]), positional[1]
	if a.network != "telegram" && a.network != "whatsapp" {
		return nil, fmt.Errorf("app %q: use telegram or whatsapp", positional[0])
	}
	if a.user == "" || !strings.HasPrefix(a.user, "@") || !strings.Contains(a.user, ":") {
		return nil, errors.New("--user: give the Matrix ID of the person whose history this is (@name:server)")
	}
	return a, nil
}

// bridgeEndpoint reads the bridge's listener address and provisioning secret from its config.
func bridgeEndpoint(configPath, override string) (base, secret string, err error) {
	raw, err := os.ReadFile(configPath)
	if err != nil {
		return "", "", fmt.Errorf("read bridge config (give it with -c): %w", err)
	}
	var cfg struct {
		AppService struct {
			Hostname string `yaml:"hostname"`
			Port     int    `yaml:"port"`
		} `yaml:"appservice"`
		Provisioning struct {
			SharedSecret string `yaml:"shared_secret"`
		} `yaml:"provisioning"`
	}
	if err = yaml.Unmarshal(raw, &cfg); err != nil {
		return "", "", fmt.Errorf("parse %s: %w", configPath, err)
	}
	secret = cfg.Provisioning.SharedSecret
	if len(secret) < 16 || secret == "disable" || secret == "generate" {
		return "", "", fmt.Errorf("%s: provisioning.shared_secret is not set (%q); the import talks to the running bridge through it", configPath, secret)
	}
	if override != "" {
		return strings.TrimRight(override, "/"), secret, nil
	}
	host := cfg.AppService.Hostname
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if cfg.AppService.Port == 0 {
		return "", "", fmt.Errorf("%s: appservice.port is not set", configPath)
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.AppService.Port)), secret, nil
}

// runImport is `passerelle import`; it returns the exit code: 0 all imported, 2 some messages
// failed or the import stopped early, 1 nothing was imported.
func runImport(args []string, stdout, stderr io.Writer) int {
	a, err := parseImportArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "passerelle import:", err)
		return 1
	}
	base, secret, err := bridgeEndpoint(a.config, a.bridgeURL)
	if err != nil {
		fmt.Fprintln(stderr, "passerelle import:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := postImport(ctx, base, secret, a, newProgressBar(stderr, a.plain))
	if err != nil {
		fmt.Fprintln(stderr, "passerelle import:", err)
		return 1
	}
	if a.json {
		_ = json.NewEncoder(stdout).Encode(sum)
	} else {
		fmt.Fprintln(stdout, importer.SummaryText(sum))
	}
	if sum.Failed > 0 || sum.Stopped != "" {
		return 2
	}
	return 0
}

// uploadBody opens the export as one upload: a file as is, a Telegram folder zipped on the fly.
func uploadBody(path, network string) (io.ReadCloser, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("export: %w", err)
	}
	if !st.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return nil, "", fmt.Errorf("export: %w", err)
		}
		return f, filepath.Base(path), nil
	}
	if network != "telegram" {
		return nil, "", fmt.Errorf("%s is a folder: give the WhatsApp export's .zip or .txt", path)
	}
	if _, err = os.Stat(filepath.Join(path, "result.json")); err != nil {
		return nil, "", fmt.Errorf("%s has no result.json; choose \"Machine-readable JSON\" when exporting from Telegram Desktop", path)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(zipFolder(pw, path)) }()
	return pr, filepath.Base(filepath.Clean(path)) + ".zip", nil
}

func zipFolder(w io.Writer, dir string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		// Media are already compressed: store them, deflate only the JSON.
		method := zip.Store
		if strings.EqualFold(filepath.Ext(p), ".json") {
			method = zip.Deflate
		}
		zf, err := zw.CreateHeader(&zip.FileHeader{Name: filepath.ToSlash(rel), Method: method})
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(zf, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("zip %s: %w", dir, err)
	}
	return zw.Close()
}

func postImport(ctx context.Context, base, secret string, a *importArgs, bar *progressBar) (*importer.Summary, error) {
	body, name, err := uploadBody(a.path, a.network)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	q := url.Values{"user_id": {a.user}, "network": {a.network}, "filename": {name}}
	for k, v := range map[string]string{"room": a.opts.Room, "chat": a.opts.Chat, "me": a.opts.Me, "tz": a.opts.TZ, "date_order": a.opts.DateOrder} {
		if v != "" {
			q.Set(k, v)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+importer.ImportPath+"?"+q.Encode(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/octet-stream")
	bar.status("Uploading " + name + "…")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach the bridge at %s (is it running?): %w", base, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var evt importer.Event
		if err = json.Unmarshal(sc.Bytes(), &evt); err != nil {
			return nil, fmt.Errorf("bridge answered HTTP %d with %q", resp.StatusCode, truncate(sc.Text(), 200))
		}
		switch {
		case evt.Error != "":
			bar.done()
			return nil, errors.New(evt.Error)
		case evt.Summary != nil:
			bar.done()
			return evt.Summary, nil
		case evt.Progress != nil:
			bar.update(*evt.Progress)
		}
	}
	bar.done()
	if err = sc.Err(); err != nil {
		return nil, fmt.Errorf("read the bridge's answer: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("the bridge at %s has no import endpoint (HTTP 404): it is older than this command, or importer.RegisterCommands is not hooked in", base)
	}
	return nil, fmt.Errorf("the bridge ended the answer without a summary (HTTP %d); re-run to continue", resp.StatusCode)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// progressBar draws `[#####     ]  45%  4500/10000  1200 msg/s  ETA 0:05` on one terminal
// line, or prints a line every few seconds when plain (logs, pipes).
type progressBar struct {
	w     io.Writer
	plain bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer, plain bool) *progressBar {
	if f, ok := w.(*os.File); !plain && ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
			plain = true
		}
	}
	return &progressBar{w: w, plain: plain}
}

func (b *progressBar) status(s string) {
	if b.plain {
		fmt.Fprintln(b.w, s)
	} else {
		fmt.Fprintf(b.w, "\r\033[K%s", s)
		b.drawn = true
	}
}

func (b *progressBar) update(p importer.Progress) {
	if b.plain && time.Since(b.last) < 5*time.Second && p.Done < p.Total {
		return
	}
	b.last = time.Now()
	b.status(renderProgress(p, 30))
}

func (b *progressBar) done() {
	if b.drawn && !b.plain {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// renderProgress draws the bar with rate and ETA.
func renderProgress(p importer.Progress, width int) string {
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	filled := int(frac * float64(width))
	bar := strings.Repeat("#", filled) + strings.Repeat(" ", width-filled)
	line := fmt.Sprintf("[%s] %3d%%  %d/%d", bar, int(frac*100), p.Done, p.Total)
	if p.ElapsedMS > 0 {
		line += fmt.Sprintf("  %.0f msg/s", float64(p.Done)*1000/float64(p.ElapsedMS))
	}
	if p.ETAMS > 0 {
		eta := time.Duration(p.ETAMS) * time.Millisecond
		line += fmt.Sprintf("  ETA %d:%02d", int(eta.Minutes()), int(eta.Seconds())%60)
	}
	if p.Failed > 0 {
		line += fmt.Sprintf("  (%d failed)", p.Failed)
	}
	return line
}
