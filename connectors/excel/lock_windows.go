//go:build windows

package excel

import "syscall"

// locked reports whether another program (Excel saving or holding the workbook open, a
// copy still in progress) has the file open: it cannot be opened without sharing.
func locked(path string) bool {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return true
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ, 0, nil, syscall.OPEN_EXISTING, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		return true
	}
	syscall.CloseHandle(h)
	return false
}
