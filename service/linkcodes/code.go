// Package linkcodes issues 9-digit patient link codes (tracker issue 6): it checks a
// patient card has what linking needs, draws a code, registers it with every connector
// that links patients (connectors.LinkRegistrar: ONDOC), delivers it to the patient by
// SMS (SMSЦентр) or e-mail in the clinic's priority order, keeps an audit trail and
// abuse limits, issues codes for patients the MIS flags, and serves the registrar's web
// page (Handler). See README.md for the decisions (hashing, resend, unlink paths).
package linkcodes

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// CodeLength is the number of digits of a link code.
const CodeLength = 9

const (
	codeMin  = 100_000_000
	codeSpan = 900_000_000 // codes are uniform over codeMin..codeMin+codeSpan-1
)

// NewCode draws a code uniformly from 100000000–999999999 with crypto/rand.
func NewCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(codeSpan))
	if err != nil {
		return "", fmt.Errorf("link code: system random source: %w", err)
	}
	return fmt.Sprintf("%d", codeMin+n.Int64()), nil
}

// ValidCode reports whether s has the form of a link code.
func ValidCode(s string) bool {
	if len(s) != CodeLength || s[0] == '0' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// pepperFile is the per-install secret the code hashes and the resend copies are keyed
// with; it lives in the state dir, never in the config or the database.
const pepperFile = "linkcodes.key"

// keys are derived from the pepper: one for HMACs, one for AES-GCM.
type keys struct {
	mac []byte
	enc []byte
}

// loadKeys reads <dir>/linkcodes.key, creating it (32 random bytes, hex, mode 0600) on
// first use.
func loadKeys(dir string) (*keys, error) {
	path := filepath.Join(dir, pepperFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("link codes: random pepper: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("link codes: state dir %s: %w", dir, err)
		}
		if werr := writeNew(path, hex.EncodeToString(b[:])+"\n"); werr != nil && !errors.Is(werr, os.ErrExist) {
			return nil, fmt.Errorf("link codes: writing the secret %s: %w; give the service account write access to the state dir", path, werr)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("link codes: reading the secret %s: %w", path, err)
	}
	pepper, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(pepper) < 32 {
		return nil, fmt.Errorf("link codes: %s is damaged (expected 64 hex digits); delete it — codes issued so far stop working and must be issued again", path)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, pepper)
		m.Write([]byte("medsync-linkcodes/" + label))
		return m.Sum(nil)
	}
	return &keys{mac: derive("hash"), enc: derive("seal")}, nil
}

// writeNew creates path (mode 0600) with content; it fails with os.ErrExist when a
// concurrent start created it first.
func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hash is the HMAC-SHA-256 of a code under the install's pepper, hex.
func (k *keys) hash(code string) string {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// seal encrypts a code for resending (AES-256-GCM, the patient id as associated data,
// so a sealed code cannot be moved to another patient's row).
func (k *keys) seal(code, patientID string) ([]byte, error) {
	gcm, err := k.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, []byte(code), []byte(patientID)), nil
}

func (k *keys) open(sealed []byte, patientID string) (string, error) {
	gcm, err := k.gcm()
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize() {
		return "", errors.New("sealed code is too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte(patientID))
	if err != nil {
		return "", errors.New("sealed code does not open with this install's secret")
	}
	return string(plain), nil
}

func (k *keys) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(k.enc)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// randomToken returns n random bytes as hex (session and CSRF tokens).
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
