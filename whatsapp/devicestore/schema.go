package devicestore

import (
	"embed"

	"go.mau.fi/util/dbutil"
)

// VersionTable is where the schema version of the whatsmeow_ tables is recorded, separate from
// bridgev2's own version table so both can be upgraded independently in one database.
const VersionTable = "whatsmeow_version"

//go:embed schema/*.sql
var schemaFS embed.FS

// upgradeTable holds the schema migrations, one file per version in schema/.
var upgradeTable = dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()
