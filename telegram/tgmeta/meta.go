// Package tgmeta holds the Telegram fields that Passerelle keeps in bridgev2's shared tables
// (portal, ghost, message, reaction, user_login). It imports nothing from the project so that the
// cross-network metadata holders in package portal can embed it without an import cycle.
package tgmeta

// Login is kept per Telegram account.
type Login struct {
	// Phone is the account's number, when it logged in by phone or Telegram shared it.
	Phone string `json:"phone,omitempty"`
	// IsBot marks logins made with a bot token, which cannot use user-only methods.
	IsBot bool `json:"is_bot,omitempty"`
}

// Portal is kept per Telegram chat.
type Portal struct {
	// AccessHash is needed to address channels and supergroups in every request.
	AccessHash int64 `json:"access_hash,omitempty"`
	// IsForum marks supergroups whose topics are bridged as separate rooms.
	IsForum bool `json:"is_forum,omitempty"`
	// ReadOnly is set on broadcast channels where the user may not post.
	ReadOnly bool `json:"read_only,omitempty"`
	// MigratedTo is the supergroup a basic group became.
	MigratedTo int64 `json:"migrated_to,omitempty"`
}

// Ghost is kept per Telegram user or channel.
type Ghost struct {
	// AccessHash is needed to address the user in requests.
	AccessHash int64 `json:"access_hash,omitempty"`
	// PhotoID is Telegram's profile photo ID, so the avatar is fetched only when it changes.
	PhotoID  int64  `json:"photo_id,omitempty"`
	Username string `json:"username,omitempty"`
}

// Message is kept per bridged Telegram message.
type Message struct {
	// ContentHash detects edits that change nothing visible (Telegram resends on reactions).
	ContentHash string `json:"content_hash,omitempty"`
	// PollAnswers are the Matrix answer IDs of a poll, in Telegram's order; PollOptions the
	// matching Telegram option bytes. Votes from Matrix are translated through them.
	PollAnswers []string `json:"poll_answers,omitempty"`
	PollOptions []string `json:"poll_options,omitempty"`
}

// Reaction is kept per bridged Telegram reaction.
type Reaction struct{}
