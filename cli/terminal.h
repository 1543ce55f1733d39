/*
 * terminal.h - this process's standard input and terminal: all of stdin
 * at once (msb run -i, msb repl), and the interactive session of msb shell
 * (raw mode, window size, a thread that copies the output).
 */
#ifndef MSB_CLI_TERMINAL_H
#define MSB_CLI_TERMINAL_H

#include <stddef.h>
#include <stdint.h>

#include "msb.h"

/* All of stdin until EOF or an error, malloc'd; NULL when out of memory. */
char *read_all_stdin(size_t *len);

/* The size of the terminal on stdin: 0, or -1 (rows and cols untouched)
 * when it has none. */
int term_size(uint16_t *rows, uint16_t *cols);

/* Relay until p's output ends: stdin (a terminal when tty is non-zero: in
 * raw mode, restored before returning, its size changes passed on) to p,
 * p's output to stdout. EOF on stdin sends ^D and waits for the end.
 * 0, or -1 when it could not start. */
int term_relay(msb_process *p, int tty);

#endif
