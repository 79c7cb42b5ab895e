package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
)

// createPG creates a fresh bench database on the server and returns its DSN.
func (b *bench) createPG() (string, error) {
	b.pgName = fmt.Sprintf("medsync_bench_%d_%d", b.appts, os.Getpid())
	db, err := sql.Open("pgx", b.o.pg)
	if err != nil {
		return "", err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+b.pgName); err != nil {
		return "", fmt.Errorf("postgres %s: %w", b.o.pg, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+b.pgName); err != nil {
		return "", fmt.Errorf("postgres %s: %w", b.o.pg, err)
	}
	return pgDSN(b.o.pg, b.pgName, 0), nil
}

func (b *bench) dropPG() {
	db, err := sql.Open("pgx", b.o.pg)
	if err != nil {
		return
	}
	defer db.Close()
	db.ExecContext(context.Background(), `DROP DATABASE IF EXISTS `+b.pgName+` WITH (FORCE)`)
}

func pgHostPort(admin string) string {
	u, err := url.Parse(admin)
	if err != nil || u.Host == "" {
		return "127.0.0.1:5432"
	}
	if u.Port() == "" {
		return u.Host + ":5432"
	}
	return u.Host
}

// pgDSN is the admin DSN pointed at database name, through 127.0.0.1:port when port > 0.
func pgDSN(admin, name string, port int) string {
	u, err := url.Parse(admin)
	if err != nil {
		return admin
	}
	u.Path = "/" + name
	if port > 0 {
		u.Host = fmt.Sprintf("127.0.0.1:%d", port)
	}
	return u.String()
}
