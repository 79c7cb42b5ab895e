//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"medsync/service/config"
)

// prepareInstall sets up what the systemd unit expects: the service account
// ([service] user, created as a system account without a login shell when missing),
// the folders the service writes to (created; the state and log folders and any
// folder created now are given to the account), and a config file the account can
// read but others cannot (it holds passwords).
func prepareInstall(cfg *config.Config) (notes []string, err error) {
	name := cfg.Service.User
	var uid, gid = -1, -1
	if name != RootUser {
		u, created, err := ensureUser(name)
		if err != nil {
			return nil, err
		}
		if created {
			notes = append(notes, fmt.Sprintf("created the system account %q (no login shell, no home) for the service", name))
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	} else {
		notes = append(notes, "the service runs as root ([service] user = root); a dedicated account is safer: remove the key to use \"medsync\"")
	}
	own := map[string]bool{cfg.Service.StateDir: true, cfg.Service.LogDir: true}
	for _, d := range WritablePaths(cfg) {
		_, statErr := os.Stat(d)
		if errors.Is(statErr, fs.ErrNotExist) {
			own[d] = true
		}
		if err := os.MkdirAll(d, 0o750); err != nil {
			return notes, fmt.Errorf("cannot create %s: %w", d, err)
		}
		if uid < 0 {
			continue
		}
		if own[d] {
			if err := chownTree(d, uid, gid); err != nil {
				return notes, fmt.Errorf("cannot give %s to %s: %w", d, name, err)
			}
			continue
		}
		if !writableBy(d, uid, gid) {
			notes = append(notes, fmt.Sprintf("%s is not writable by %s: give it access, e.g. chgrp %s %q && chmod g+rwx %q", d, name, name, d, d))
		}
	}
	if uid >= 0 {
		n, err := shareConfig(cfg.File, gid, name)
		if err != nil {
			return notes, err
		}
		notes = append(notes, n...)
	}
	return notes, nil
}

func ensureUser(name string) (*user.User, bool, error) {
	if u, err := user.Lookup(name); err == nil {
		return u, false, nil
	}
	var cmd *exec.Cmd
	if p, err := exec.LookPath("useradd"); err == nil {
		cmd = exec.Command(p, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name)
	} else if p, err := exec.LookPath("adduser"); err == nil {
		cmd = exec.Command(p, "--system", "--group", "--no-create-home", "--home", "/nonexistent", "--shell", "/usr/sbin/nologin", name)
	} else {
		return nil, false, fmt.Errorf("the account %q does not exist and neither useradd nor adduser is here to create it; create it, or set [service] user", name)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, false, fmt.Errorf("creating the account %q (%s): %v: %s", name, strings.Join(cmd.Args, " "), err, strings.TrimSpace(string(out)))
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, false, fmt.Errorf("the account %q was created but cannot be found: %w", name, err)
	}
	return u, true, nil
}

func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// writableBy tells from the mode bits whether uid (primary group gid) may write to d.
func writableBy(d string, uid, gid int) bool {
	fi, err := os.Stat(d)
	if err != nil {
		return false
	}
	st, ok := statOwner(fi)
	if !ok {
		return false
	}
	m := fi.Mode().Perm()
	return (st.uid == uid && m&0o300 == 0o300) || (st.gid == gid && m&0o030 == 0o030) || m&0o003 == 0o003
}

// shareConfig lets the service's group read config.ini and keeps others out.
func shareConfig(file string, gid int, name string) ([]string, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	st, ok := statOwner(fi)
	if !ok {
		return nil, nil
	}
	m := fi.Mode().Perm()
	if st.gid == gid && m&0o040 != 0 && m&0o004 == 0 {
		return nil, nil
	}
	if err := os.Chown(file, -1, gid); err != nil {
		return nil, fmt.Errorf("cannot let %s read %s: %w", name, file, err)
	}
	if err := os.Chmod(file, (m|0o040)&^0o007); err != nil {
		return nil, fmt.Errorf("cannot set the mode of %s: %w", file, err)
	}
	return []string{fmt.Sprintf("%s: group %s may read it, other accounts may not (it holds passwords)", file, name)}, nil
}

// removeLegacyInit removes /etc/init.d/<name> and its /etc/rc?.d links, left by an
// older medsync that installed a SysV script.
func removeLegacyInit(name string) []string {
	script := filepath.Join("/etc/init.d", name)
	if _, err := os.Lstat(script); err != nil {
		return nil
	}
	var removed []string
	links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]" + name)
	for _, l := range append(links, script) {
		if os.Remove(l) == nil {
			removed = append(removed, "  "+l)
		}
	}
	return removed
}
