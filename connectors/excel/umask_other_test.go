//go:build !unix

package excel

func umask() int { return 0 }
