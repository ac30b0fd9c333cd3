package secrets_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	_ "go.mau.fi/util/dbutil/litestream"

	"github.com/passerelle-bridge/passerelle/secrets"
)

// sessionData is how a store describes a sealed column: here a Telegram session blob keyed by
// the account's user ID.
var sessionData = secrets.Column{Table: "telegram_session", Column: "data", Key: []string{"user_id"}}

// A store seals its secret column on write and opens it on read. In the bridge the keyring
// comes from secrets.FromEnv().
func ExampleActivate() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "secrets-example")
	defer os.RemoveAll(dir)
	db, _ := dbutil.NewWithDialect("file:"+filepath.Join(dir, "bridge.db")+"?_txlock=immediate", "sqlite3-fk-wal")
	defer db.Close()
	_, _ = db.Exec(ctx, `CREATE TABLE telegram_session (user_id BIGINT PRIMARY KEY, data bytea NOT NULL)`)

	keyText, _ := secrets.GenerateKey() // what the operator puts in PASSERELLE_SECRET_KEY
	key, _ := secrets.ParseKey(keyText)
	sealer, err := secrets.Activate(ctx, db, "telegram", secrets.NewKeyring(key), []secrets.Column{sessionData}, zerolog.Nop())
	if err != nil {
		fmt.Println(err)
		return
	}

	userID := int64(777000)
	ref := sessionData.Ref(strconv.FormatInt(userID, 10))
	stored, _ := sealer.Seal(ref, []byte(`{"auth_key":"..."}`))
	_, _ = db.Exec(ctx, `INSERT INTO telegram_session (user_id, data) VALUES ($1, $2)`, userID, stored)

	var fromDB []byte
	_ = db.QueryRow(ctx, `SELECT data FROM telegram_session WHERE user_id=$1`, userID).Scan(&fromDB)
	data, err := sealer.Open(ref, fromDB)
	fmt.Println(sealer.Encrypted(), string(data), err)

	// A value moved to another account's row does not open.
	_, err = sealer.Open(sessionData.Ref("42"), fromDB)
	fmt.Println(err != nil)
	// Output:
	// true {"auth_key":"..."} <nil>
	// true
}
