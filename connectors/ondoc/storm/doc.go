// Package storm holds the kill -9 storm test of medsync against ONDOC: medsync runs as
// a child process on a demo MIS and is killed with SIGKILL during polls and deliveries
// while the MIS changes and a strict ONDOC receiver (written from the contract in
// connectors/ondoc/README.md) answers late, fails with 500 or asks to slow down with
// 429; afterwards the receiver's view of the clinic must equal the MIS. The package has
// no code of its own.
package storm
