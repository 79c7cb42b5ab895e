// Package connectors defines the contract between the medsync engine and the systems
// it keeps in step with the MIS (ONDOC, ЕПГУ/ФЭР, Excel, a JSON-lines file, …): the
// Connector interface and its optional capabilities, the registry connectors add
// themselves to from init(), the error classes the dispatcher acts on, and a shared
// conformance suite (package connectors/conformance) every connector's tests run.
//
// The engine knows connectors only through this package. Adding a connector means
// adding a folder under connectors/ and a blank import in cmd/medsync; service/ is not
// touched.
package connectors

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"
)

// Event operations.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Event is one change to deliver. Events are created by the engine in the same state
// store transaction as the snapshot they come from, and fed to connectors only from the
// outbox. For one (connector, entity, key) events arrive in order; a newer event
// replaces an older one still queued.
type Event struct {
	Seq            int64           `json:"-"` // outbox sequence number, for the engine's bookkeeping (shared by the events of one batch row)
	Entity         string          `json:"entity"`
	Op             string          `json:"op"` // OpUpsert or OpDelete
	Key            string          `json:"key"`
	IdempotencyKey string          `json:"idempotency_key"` // stable across resends: connector+entity+key+fingerprint
	Fingerprint    string          `json:"fingerprint"`
	At             time.Time       `json:"at"`             // when the change was detected, with offset
	Data           json.RawMessage `json:"data,omitempty"` // canonical record (mapping package) as JSON; empty for deletes
	Attempt        int             `json:"-"`              // 1 on first delivery
}

// DeliveryKey names this occurrence of the change for a peer that applies each key at
// most once: the idempotency key, the outbox sequence number and the detection time
// (seconds). The idempotency key alone comes back when a record returns to earlier
// content (cancelled → restored → cancelled): such a peer would answer the second
// cancellation "duplicate" and keep showing the visit booked. A resend of the same
// event (a lost acknowledgement, a restart) carries the same DeliveryKey: both numbers
// are stored with the event in the outbox.
func (ev Event) DeliveryKey() string {
	at := int64(0)
	if !ev.At.IsZero() {
		at = ev.At.Unix()
	}
	return ev.IdempotencyKey + "@" + strconv.FormatInt(ev.Seq, 10) + "." + strconv.FormatInt(at, 10)
}

// Connector receives events for the entities it takes.
//
// A connector that keeps state of its own about what a peer has seen ("sent",
// "shown", "known to the peer") must treat everything that may have reached the peer
// as seen (DESIGN.md invariant 10): it records the intent in its state BEFORE the
// request goes out, not only after a 2xx. A request whose answer was lost (timeout,
// dropped connection, the process killed while the peer answers) may have been
// processed; when the record is then deleted, the delete must be sent. Sending a
// delete for something the peer never stored is harmless; a peer that keeps showing
// a deleted visit is not.
type Connector interface {
	// Deliver sends a batch. It returns one error per event, in order: nil means the
	// peer acknowledged the event; otherwise classify it with Permanent or Transient
	// (an unclassified error counts as transient). A returned slice of the wrong
	// length fails the whole batch as transient. An error carries the peer's status
	// code and at most PeerText of its answer, never the body verbatim (it may echo a
	// patient's data); a 429/503 with Retry-After is Transient with that delay, and
	// pauses the connector's whole queue until then.
	Deliver(ctx context.Context, batch []Event) []error
	// Close releases resources; it must return quickly.
	Close() error
}

// Checker is implemented by connectors that can test reachability and credentials
// (used by `medsync check`). Each returned Check is printed as one line.
type Checker interface {
	Check(ctx context.Context) []Check
}

// Check is the outcome of one check.
type Check struct {
	Name string // e.g. "ondoc: server reachable"
	Err  error  // nil when it passed
	Hint string // what to do when it failed, for clinic IT
	// Warn marks Err as a remark, not a failure: the connector works, but something
	// the operator should fix is left out (a doctor without СНИЛС, say). It does not
	// fail `medsync check`.
	Warn bool
}

// Runner is implemented by connectors that do work of their own besides delivering
// events: pulling bookings back into the MIS, serving requests from the synced state,
// watching an inbox folder. Run is called once per poll (after the poll's events are
// committed), with the host's services; it must return when ctx is done.
type Runner interface {
	Run(ctx context.Context, host Host) error
}

// LinkRegistrar is implemented by connectors that attach patients to the clinic with a
// 9-digit link code (ONDOC). The engine calls it when a code is issued or revoked and
// when a patient card is deleted.
type LinkRegistrar interface {
	RegisterLinkCode(ctx context.Context, patientID, code string, expires time.Time) error
	Unlink(ctx context.Context, patientID string) error
}

// LinkChecker is implemented by link registrars that know whether a patient has
// linked (ONDOC learns it from its feed). The link-code service uses it to mark a code
// used and to show the registrar the patient's link state.
type LinkChecker interface {
	IsLinked(ctx context.Context, patientID string) (bool, error)
}

// Host is what the engine offers a connector's Run.
type Host interface {
	Logger() *slog.Logger
	// StateDir is the directory where a connector may keep files of its own.
	StateDir() string
	// MIS gives access to the profile's write statements. It returns nil when the
	// profile declares none (medsync is read-only by default).
	MIS() MISWriter
	// Records streams the current synced records of an entity from the state store
	// (the last values delivered), for connectors that serve requests.
	Records(ctx context.Context, entity string, fn func(key string, data json.RawMessage) error) error
	// Refresh brings records a connector has just changed in the MIS (a booking, a
	// cancellation) into the state store now instead of at the next poll: the engine
	// re-reads them through the profile's read statements, commits them through the
	// normal differ (snapshot and outbox in one transaction, the same guards) and wakes
	// the delivery of every connector, so other channels learn of the change within
	// seconds. It waits for a running poll to finish (never two commits of one entity
	// at once) and returns when the change is committed. A failure leaves the change to
	// the next poll. connectors/booking calls it after every booking and cancellation.
	Refresh(ctx context.Context, r RefreshRequest) error
}

// RefreshRequest names what a write to the MIS changed.
type RefreshRequest struct {
	Reason         string    // for the log, e.g. "booking ondoc 123"
	DoctorID       string    // the doctor whose schedule changed
	BranchID       string    // the branch of the appointment, when known
	From, To       time.Time // the changed interval (instants); zero when unknown
	AppointmentIDs []string  // MIS ids of the appointments written or cancelled
}

// MISWriter runs the profile's declared write statements in one transaction.
type MISWriter interface {
	// Has reports whether the profile declares the named write statement.
	Has(name string) bool
	// Tx runs fn in one MIS transaction: committed when fn returns nil, rolled back
	// otherwise.
	Tx(ctx context.Context, fn func(tx MISTx) error) error
}

// MISLimits is implemented by MIS writers that know how long a text parameter may be
// (the width of the column it fills, declared in the profile's write statements as
// "-- limit :comment 500"). The booking path caps or refuses longer values.
type MISLimits interface {
	// MaxLen returns the declared maximum length in characters of a text parameter,
	// or 0 when the profile declares none.
	MaxLen(param string) int
}

// MISTx executes named profile statements with named parameters.
type MISTx interface {
	Exec(ctx context.Context, name string, params map[string]any) (sql.Result, error)
	Query(ctx context.Context, name string, params map[string]any) (*sql.Rows, error)
}

// Server is implemented by connectors that serve requests continuously (a SOAP service
// a portal calls live) instead of waiting for a poll. The engine calls Serve once, in a
// goroutine of its own, when the daemon starts (`medsync run` and the OS service, not
// `medsync once`), with the host's services; Serve listens until ctx is done, then
// stops listening, lets requests in flight finish briefly and returns. An error return
// means the listener could not be opened or failed; the engine logs it, shows it on the
// status page and calls Serve again after a pause.
type Server interface {
	Serve(ctx context.Context, host Host) error
	// Listening describes the connector's listeners for `medsync check` and the status
	// page: before Serve the configured address, while serving the bound one.
	Listening() []Listener
}

// Listener is one address a Server connector serves, with its health.
type Listener struct {
	Name    string `json:"name"` // what is served, e.g. "SOAP service"
	Addr    string `json:"addr"` // host:port (configured, or bound while serving)
	URL     string `json:"url"`  // where callers send requests
	TLS     bool   `json:"tls"`
	Auth    string `json:"auth"`    // how callers are accepted, e.g. "client certificate", "allow-list + basic auth"
	Serving bool   `json:"serving"` // the listener is open now
	Healthy bool   `json:"healthy"` // serving and able to answer (its data is loaded)
	Detail  string `json:"detail"`  // one line for the status page, e.g. "3 branches, 40 doctors"
	// Problems lists what an operator should fix (records left out, unmapped codes).
	Problems []string `json:"problems,omitempty"`
	// Requests counts requests by operation since start; Errors those answered with an error.
	Requests map[string]int64 `json:"requests"`
	Errors   map[string]int64 `json:"errors"`
}

// MISReader is implemented by a Host that can run the profile's named read
// statements (read.<name>) outside the sync, such as a patient lookup by policy
// number. fn gets each row's columns by lower-case name, every value as text.
type MISReader interface {
	QueryMIS(ctx context.Context, name string, params map[string]any, fn func(row map[string]string) error) error
}

// StateChecker is implemented by connectors whose checks need the synced state (a
// Server that leaves records out for want of codes). `medsync check` calls it with a
// host whose Records read the state store and whose MIS is nil.
type StateChecker interface {
	CheckState(ctx context.Context, host Host) []Check
}
