package waexport

import "strings"

// Marker texts WhatsApp writes in place of content. English is what the
// package is tested against; the French, German and Spanish variants are
// best effort for Android exports made in those languages (anything not
// recognised stays as text, so nothing is lost).
var (
	// omittedMarkers replace media in exports made without media.
	omittedMarkers = []string{"<Media omitted>", "<Médias omis>", "<Medien ausgeschlossen>", "<Multimedia omitido>"}
	// attachedSuffixes follow a file name in Android exports with media.
	attachedSuffixes = []string{" (file attached)", " (fichier joint)", " (Datei angehängt)", " (archivo adjunto)"}
	// deletedPrefixes start the placeholder of a deleted message.
	deletedPrefixes = []string{
		"This message was deleted", "You deleted this message",
		"Ce message a été supprimé", "Vous avez supprimé ce message",
		"Diese Nachricht wurde gelöscht", "Du hast diese Nachricht gelöscht",
		"Se eliminó este mensaje", "Eliminaste este mensaje",
	}
	// editedMarks end edited messages.
	editedMarks = []string{"<This message was edited>", "<Ce message a été modifié>", "<Diese Nachricht wurde bearbeitet>", "<Se editó este mensaje.>"}
	// encryptionNotices start the notice at the top of every chat.
	encryptionNotices = []string{
		"Messages and calls are end-to-end encrypted",
		"Messages to this group are now secured with end-to-end encryption",
		"Messages to this chat and calls are now secured with end-to-end encryption",
		"Messages you send to this group are now secured with end-to-end encryption",
		"Messages you send to this chat and calls are now secured with end-to-end encryption",
		"Les messages et les appels sont chiffrés de bout en bout",
		"Nachrichten und Anrufe sind Ende-zu-Ende-verschlüsselt",
		"Los mensajes y las llamadas están cifrados de extremo a extremo",
	}
)

func hasAnyPrefix(s string, list []string) bool {
	for _, p := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func isAny(s string, list []string) bool {
	for _, p := range list {
		if s == p {
			return true
		}
	}
	return false
}

// cutAnySuffix removes the first suffix of list that s has.
func cutAnySuffix(s string, list []string) (string, bool) {
	for _, suf := range list {
		if rest, ok := strings.CutSuffix(s, suf); ok {
			return rest, true
		}
	}
	return s, false
}
