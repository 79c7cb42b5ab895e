package nats_test

import (
	"os"
	"path/filepath"
	"testing"

	"medsync/connectors"
	natsconn "medsync/connectors/nats"
	"medsync/service/config"
)

// TestSampleConf: the sample section loads as it is shipped, with the password masked
// in `config show`.
func TestSampleConf(t *testing.T) {
	sample, err := os.ReadFile("sample.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ini := "[service]\nstate_dir = state\n\n[mis]\ndriver = sqlite\ndsn = file:" + filepath.ToSlash(filepath.Join(dir, "mis.db")) + "\nprofile = demo\n\n" +
		string(sample) + "\npassword = pw-in-sample\nuser = clinic12\n"
	p := filepath.Join(dir, "config.ini")
	if err := os.WriteFile(p, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("sample.conf does not load: %v", err)
	}
	cc := cfg.Connectors[0]
	c, err := cc.Spec.New(connectors.Env{Instance: cc.Name, BaseDir: dir}, cc.Values)
	if err != nil {
		t.Fatalf("the sample section is refused: %v", err)
	}
	c.Close()
	found := false
	for _, s := range config.Secrets(cfg) {
		found = found || s == "pw-in-sample"
	}
	if !found {
		t.Fatalf("the password of [connector.%s] is not among the secrets masked", natsconn.Name)
	}
}
