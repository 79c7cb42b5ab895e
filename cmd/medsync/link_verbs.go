package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/term"

	"medsync/service/app"
	"medsync/service/linkcodes"
)

// Verbs of patient link codes (service/linkcodes):
//
//	link issue --patient ID [--by USER]   issue a code, register it, deliver it
//	link status --patient ID               link state, codes, delivery attempts
//	link revoke --patient ID [--by USER]   revoke the code and unlink
//	passwd [USER]                          print a [registrar] user.NAME = <bcrypt hash> line
func init() {
	verbs["link"] = func(ctx context.Context, c *cli, args []string) error { return c.link(ctx, args) }
	verbs["passwd"] = func(_ context.Context, c *cli, args []string) error { return c.passwd(os.Stdin, args) }
}

const linkUsage = `usage:
  medsync link issue  --patient ID [--by USER]   issue a 9-digit code, register it with ONDOC, send it to the patient
  medsync link status --patient ID               show the link state, codes and delivery attempts
  medsync link revoke --patient ID [--by USER]   revoke the active code and unlink the patient`

func (c *cli) link(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &exitError{2, errors.New(linkUsage)}
	}
	sub := args[0]
	fs := flag.NewFlagSet("link "+sub, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	patient := fs.String("patient", "", "MIS patient id (the card key, e.g. CLIENTS.PCODE)")
	by := fs.String("by", "", "who asks, for the audit log (default: cli:<OS user>)")
	if err := fs.Parse(args[1:]); err != nil {
		return &exitError{2, err}
	}
	if *patient == "" {
		return &exitError{2, fmt.Errorf("link %s: --patient is required\n%s", sub, linkUsage)}
	}
	actor := *by
	if actor == "" {
		actor = "cli"
		if u, err := user.Current(); err == nil {
			actor = "cli:" + u.Username
		}
	}
	if sub != "issue" && sub != "status" && sub != "revoke" {
		return &exitError{2, fmt.Errorf("link: unknown action %q\n%s", sub, linkUsage)}
	}
	a, err := c.open(ctx, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()
	if a.LinkCodes == nil {
		return fmt.Errorf("%s: [linkcodes] is not enabled; set enabled = true and a delivery channel (see the sample config.ini)", a.Cfg.File)
	}
	svc := a.LinkCodes
	switch sub {
	case "issue":
		res, err := svc.Issue(ctx, *patient, actor)
		if err != nil {
			return fmt.Errorf("%s (%w)", linkcodes.RU(err), err)
		}
		fmt.Fprintf(c.stdout, "code: %s\nexpires: %s\n", res.Code, res.ExpiresAt.In(a.Cfg.Location).Format("2006-01-02 15:04 -07:00"))
		printAttempts(c.stdout, res.Attempts)
		if !res.Delivered {
			return &exitError{1, errors.New("the code was issued but not delivered: give it to the patient yourself")}
		}
	case "revoke":
		if err := svc.Revoke(ctx, *patient, actor); err != nil {
			return fmt.Errorf("%s (%w)", linkcodes.RU(err), err)
		}
		fmt.Fprintf(c.stdout, "patient %s: code revoked, unlinked\n", *patient)
	case "status":
		st, err := svc.Status(ctx, *patient)
		if err != nil {
			return fmt.Errorf("%s (%w)", linkcodes.RU(err), err)
		}
		printStatus(c.stdout, st, a.Cfg.Location)
	}
	return nil
}

func printAttempts(w io.Writer, as []linkcodes.Attempt) {
	if len(as) == 0 {
		fmt.Fprintln(w, "delivery: no attempt")
	}
	for _, a := range as {
		res := "sent"
		if !a.OK {
			res = "failed: " + a.Detail
		}
		fmt.Fprintf(w, "delivery: %s %s %s: %s\n", a.At.Format("2006-01-02 15:04:05"), a.Channel, a.Dest, res)
	}
}

func printStatus(w io.Writer, st *linkcodes.Status, loc *time.Location) {
	t := func(x time.Time) string {
		if x.IsZero() {
			return "-"
		}
		return x.In(loc).Format("2006-01-02 15:04")
	}
	if p := st.Patient; p != nil {
		fmt.Fprintf(w, "patient %s: %s %s %s, born %s, card %s\n", p.ID, p.LastName, p.FirstName, p.MiddleName, p.BirthDate, p.CardNumber)
	} else {
		fmt.Fprintf(w, "patient %s: card not readable: %s\n", st.PatientID, st.CardError)
	}
	switch {
	case st.Linked:
		fmt.Fprintf(w, "link: linked since %s\n", t(st.LinkAt))
	case st.LinkKnown:
		fmt.Fprintf(w, "link: not linked (%s, %s)\n", st.LinkNote, t(st.LinkAt))
	default:
		fmt.Fprintln(w, "link: not linked")
	}
	if len(st.Codes) == 0 {
		fmt.Fprintln(w, "codes: none issued")
	}
	for _, c := range st.Codes {
		fmt.Fprintf(w, "code issued %s by %s, expires %s: %s\n", t(c.IssuedAt), c.IssuedBy, t(c.ExpiresAt), c.State)
		for _, a := range c.Attempts {
			res := "sent"
			if !a.OK {
				res = "failed: " + a.Detail
			}
			fmt.Fprintf(w, "  delivery %s %s %s: %s\n", t(a.At), a.Channel, a.Dest, res)
		}
	}
}

// passwd reads a password (twice, without echo, from a terminal; one line from a pipe)
// and prints the [registrar] line to paste into config.ini.
func (c *cli) passwd(in *os.File, args []string) error {
	name := "NAME"
	if len(args) > 0 {
		name = strings.ToLower(args[0])
	}
	var pw string
	if term.IsTerminal(int(in.Fd())) {
		fmt.Fprint(c.stderr, "password: ")
		a, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprint(c.stderr, "again: ")
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return err
		}
		if string(a) != string(b) {
			return errors.New("passwd: the two passwords differ; nothing printed")
		}
		pw = string(a)
	} else {
		var err error
		pw, err = readLine(in)
		if err != nil {
			return err
		}
	}
	return printHash(c.stdout, name, pw)
}

func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("passwd: reading the password from stdin: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func printHash(w io.Writer, name, pw string) error {
	if len([]rune(pw)) < 8 {
		return errors.New("passwd: the password must have at least 8 characters; nothing printed")
	}
	if len(pw) > 72 {
		return errors.New("passwd: the password is longer than 72 bytes (bcrypt's limit); nothing printed")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), 12)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	fmt.Fprintf(w, "; paste under [registrar] in config.ini\nuser.%s = %s\n", name, h)
	return nil
}
