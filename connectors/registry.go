package connectors

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Option describes one key of a connector's config section (as rclone's registry
// does): the config loader rejects keys no option names, suggests the closest one,
// fills defaults, and masks secrets in `medsync config show` and in logs.
type Option struct {
	Name     string
	Default  string
	Help     string
	Required bool
	Secret   bool
	// Pattern marks Name as a path.Match glob for a family of keys, such as
	// "org.*.inbox" (one key per organization). Required and Default do not apply.
	Pattern bool
	// Writes marks an option whose value is a path the connector writes to: WriteDir
	// for a folder, WriteFile for a file (its folder is opened). The Linux service
	// unit runs with a read-only file system except for these paths, the state and
	// the log folders.
	Writes WriteKind
}

// WriteKind says what a path option names; see Option.Writes.
type WriteKind int

// Kinds of Option.Writes.
const (
	WriteNone WriteKind = iota
	WriteDir
	WriteFile
)

// Spec is a connector's registry entry.
type Spec struct {
	Name        string
	Description string
	// Entities the connector takes by default; a config section may narrow them with
	// the common key `entities`. Empty means the connector takes no events (it only Runs).
	Entities []string
	// Keeps lists entities whose current records the connector reads back through
	// Host.Records (e.g. to serve requests); the state store keeps their data.
	Keeps   []string
	Options []Option
	// New builds a connector from its config section. cfg holds every option with
	// defaults filled in; its getters return errors that name the file, section and key.
	New func(env Env, cfg *Values) (Connector, error)
}

// Env is what a connector gets at construction.
type Env struct {
	Instance string // the section suffix: [connector.NAME] → NAME
	Logger   *slog.Logger
	StateDir string // the directory given in [service] state_dir
	BaseDir  string // directory of config.ini; relative paths in a section are resolved against it
	// Zone is the service zone ([service] timezone): the MIS's wall times of a branch
	// without a zone of its own. Nil: time.Local.
	Zone *time.Location
	// DaysAhead is the sync window ([mis] days_ahead): the days ahead other channels
	// see. Bookings (connectors/booking) are taken only inside it. 0: unknown.
	DaysAhead int
}

// StateFile is the path of a connector's own state file in StateDir: <typ>.db for
// the connector's default section ([connector.<typ>]), <typ>-<instance>.db for a
// named instance of it, so that two instances never share one. An empty StateDir
// (tests) is the working directory.
func (e Env) StateFile(typ string) string {
	dir := e.StateDir
	if dir == "" {
		dir = "."
	}
	name := typ + ".db"
	if e.Instance != "" && e.Instance != typ {
		name = typ + "-" + e.Instance + ".db"
	}
	return filepath.Join(dir, name)
}

// Common option names every connector section accepts, handled by the engine.
var CommonOptions = []Option{
	{Name: "type", Help: "connector type; defaults to the section name suffix"},
	{Name: "enabled", Default: "true", Help: "false switches the connector off without deleting its section"},
	{Name: "entities", Help: "comma-separated entities to send; default: all the connector supports"},
	{Name: "batch_size", Default: "100", Help: "events per delivery call"},
}

var (
	regMu sync.RWMutex
	specs = map[string]*Spec{}
)

// Register adds a connector type. It is called from the connector package's init and
// panics on a duplicate name: that is a programming error.
func Register(s *Spec) {
	regMu.Lock()
	defer regMu.Unlock()
	if s.Name == "" || s.New == nil {
		panic("connectors: Register needs a name and a constructor")
	}
	if _, dup := specs[s.Name]; dup {
		panic(fmt.Sprintf("connectors: %q registered twice", s.Name))
	}
	specs[s.Name] = s
}

// Lookup returns the registered connector type, or nil.
func Lookup(name string) *Spec {
	regMu.RLock()
	defer regMu.RUnlock()
	return specs[name]
}

// Names lists the registered connector types, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]string, 0, len(specs))
	for n := range specs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
