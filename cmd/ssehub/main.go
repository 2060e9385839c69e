// Command ssehub serves a Server-Sent Events hub and the typewriter demo,
// listens to or publishes on event streams from the terminal, and
// benchmarks hubs.
//
// Run "ssehub help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills the process at once.
	context.AfterFunc(ctx, stop)
	m := &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	os.Exit(m.Run(ctx, os.Args[1:]))
}

// Main holds what a command may touch of the outside world, so that tests
// can run commands in-process with their own streams and environment.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one subcommand of ssehub.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, m *Main, args []string) error
}

// commands lists the subcommands in the order "ssehub help" shows them.
func commands() []command {
	return []command{
		{"serve", "serve the hub and the typewriter demo (the default)", runServe},
		{"listen", "print the events of a stream as they arrive", runListen},
		{"publish", "publish an update to a Mercure hub", runPublish},
		{"stream", "create, append to, close, delete or follow a Durable Streams stream", runStream},
		{"token", "print a JWT that lets its holder publish or subscribe", runToken},
		{"bench", "load-test a Mercure hub: delivery, loss, latency, hub CPU and memory", runBench},
	}
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line was wrong
)

// usageError marks a mistake on the command line; it exits with exitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Run runs the subcommand named by args[0] ("serve" when args is empty or
// starts with a flag) and returns the process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	name := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		m.printUsage(m.Stdout)
		return exitOK
	}
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		name, args = args[0], args[1:]
	}
	if name == "help" {
		if len(args) == 0 {
			m.printUsage(m.Stdout)
			return exitOK
		}
		name, args = args[0], []string{"-help"}
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, m, args)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, new(usageError)):
			fmt.Fprintf(m.Stderr, "ssehub %s: %v\nRun 'ssehub %s -help' for usage.\n", name, err, name)
			return exitUsage
		default:
			fmt.Fprintf(m.Stderr, "ssehub %s: %v\n", name, err)
			return exitFailure
		}
	}
	fmt.Fprintf(m.Stderr, "ssehub: unknown command %q\n\n", name)
	m.printUsage(m.Stderr)
	return exitUsage
}

func (m *Main) printUsage(w io.Writer) {
	fmt.Fprint(w, "ssehub is a Server-Sent Events hub, client and load generator.\n\nUsage:\n\n  ssehub <command> [flags]\n  ssehub [serve flags]        (same as ssehub serve)\n\nCommands:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'ssehub <command> -help' for the flags of a command.\nEvery flag can also be set in the environment as SSEHUB_<FLAG>, e.g. SSEHUB_ADDR.\n")
}
