package tgstore

import (
	"embed"

	"go.mau.fi/util/dbutil"
)

// VersionTable records the schema version of the telegram_ tables, apart from bridgev2's own
// version table so both upgrade independently in the one bridge database.
const VersionTable = "telegram_version"

//go:embed schema/*.sql
var schemaFS embed.FS

// upgradeTable holds the migrations, one file per version in schema/.
var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()
