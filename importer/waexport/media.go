package waexport

import (
	"path"
	"regexp"
	"strings"
)

var (
	// iOS: "‎<attached: 00000012-PHOTO-2023-12-31-21-41-05.jpg>", possibly
	// preceded by a document description.
	iosAttachRe = regexp.MustCompile(`^(.*?)[` + bidiMarks + `]*<attached: ([^>]+)>$`)
	// iOS exports without media: "image omitted", "Contact card omitted".
	iosOmittedRe = regexp.MustCompile(`^(image|video|audio|sticker|GIF|document|Contact card|video note) omitted$`)
)

var omittedKinds = map[string]MediaKind{
	"image": MediaPhoto, "video": MediaVideo, "audio": MediaVoice, "sticker": MediaSticker,
	"GIF": MediaAnimation, "document": MediaFile, "video note": MediaVideo,
}

// mimeTypes lists the formats WhatsApp sends. A fixed table keeps the
// result independent of the machine's /etc/mime.types.
var mimeTypes = map[string]string{
	".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".gif": "image/gif",
	".webp": "image/webp", ".heic": "image/heic", ".mp4": "video/mp4", ".3gp": "video/3gpp",
	".mov": "video/quicktime", ".opus": "audio/ogg", ".ogg": "audio/ogg", ".m4a": "audio/mp4",
	".mp3": "audio/mpeg", ".aac": "audio/aac", ".amr": "audio/amr", ".wav": "audio/wav",
	".pdf": "application/pdf", ".vcf": "text/vcard", ".txt": "text/plain", ".zip": "application/zip",
	".doc": "application/msword", ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
	".xls": "application/vnd.ms-excel", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".ppt": "application/vnd.ms-powerpoint", ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
	".csv": "text/csv", ".odt": "application/vnd.oasis.opendocument.text",
}

// MIMEType returns the MIME type WhatsApp media with this file name have,
// or "application/octet-stream".
func MIMEType(name string) string {
	if t, ok := mimeTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// mediaKind guesses the kind from WhatsApp's file naming (Android
// "IMG-…", "PTT-…"; iOS "00000012-PHOTO-…") and then the extension.
func mediaKind(name string) MediaKind {
	base := path.Base(name)
	upper := strings.ToUpper(base)
	switch {
	case strings.HasPrefix(upper, "IMG-"):
		return MediaPhoto
	case strings.HasPrefix(upper, "VID-"):
		return MediaVideo
	case strings.HasPrefix(upper, "PTT-"):
		return MediaVoice
	case strings.HasPrefix(upper, "AUD-"):
		return MediaAudio
	case strings.HasPrefix(upper, "STK-"):
		return MediaSticker
	case strings.HasPrefix(upper, "DOC-"):
		return MediaFile
	}
	if i := strings.IndexByte(upper, '-'); i == 8 && isDigits(upper[:8]) {
		kind, _, _ := strings.Cut(upper[9:], "-")
		switch kind {
		case "PHOTO":
			return MediaPhoto
		case "VIDEO":
			return MediaVideo
		case "AUDIO":
			return MediaVoice
		case "STICKER":
			return MediaSticker
		case "GIF":
			return MediaAnimation
		}
	}
	switch mt := MIMEType(base); {
	case mt == "image/webp":
		return MediaSticker
	case mt == "image/gif":
		return MediaAnimation
	case strings.HasPrefix(mt, "image/"):
		return MediaPhoto
	case strings.HasPrefix(mt, "video/"):
		return MediaVideo
	case strings.HasPrefix(mt, "audio/"):
		return MediaAudio
	}
	return MediaFile
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// contactName turns "Jane Doe.vcf" or "00000020-Jane Doe.vcf" into "Jane Doe".
func contactName(file string) string {
	n := strings.TrimSuffix(path.Base(file), path.Ext(file))
	if len(n) > 9 && n[8] == '-' && isDigits(n[:8]) {
		n = n[9:]
	}
	return n
}
