/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mutants.h - the deliberate bugs of the crash model's mutation gate
 * (tests/crash/model/README.md), and the one switch that builds them in.
 *
 * A build with NVMMIO_MUTANT=N compiles in bug N and no other; a normal
 * build has NVMMIO_MUTANT 0, where every MUTANT(n) is a constant false that
 * the compiler removes. A site reads `if (MUTANT(n))` or `if (!MUTANT(n))`
 * next to the step the bug breaks, so the gate proves that the crash model
 * notices when that step is missing. The gate reads the list below (the
 * lines "N: what"), so a new mutant is one line here and one site; a bug
 * that only one workload exercises names it ("[workload NAME]"), and the
 * gate runs that one alone.
 *
 *  1: redo log data not flushed before its commit
 *  2: no fence before the commit record
 *  3: a checkpoint commits before its data is home
 *  4: the commit is flushed but never fenced: no final drain in fsync
 *  5: no drain after a checkpoint's copies
 *  6: the commit record is not flushed
 *  7: the log is freed before the checkpoint is fenced
 *  8: a two-word commit slot is trusted as if written atomically
 *  9: recovery retires the records before its replay is durable
 * 10: recovery does not restore the committed size
 * 11: a sync-mode write returns before its commit
 * 12: a later undo pre-image replaces the epoch's first
 * 13: a record's data checksum is never checked before recovery applies it
 * 14: recovery applies a log to a file changed behind its back (the watch is ignored)
 * 15: a transaction's file commits before its record is durable [workload tx]
 * 16: recovery does not consult the transaction records [workload tx]
 * 17: the transaction record names only the first file it commits [workload tx]
 * 22: a call on a shared file lets the lock go before its stores are fenced [workload share]
 *
 * The mutants marked (share) break the protocol of processes sharing a
 * file in ways no crash image shows (a process killed, another's changes
 * not taken in; mutant 22 is caught by the crash model's share
 * workload): the share gate
 * (tests/share/CMakeLists.txt) builds the library with each and requires
 * a share test to fail.
 *
 * 18: (share) the lock of a holder that died is taken over without repair
 * 19: (share) a call's changes are not published to the other processes
 * 20: (share) taking a file lock does not revalidate against the kernel
 * 21: (share) releasing a file lock does not expose the files
 * 23: (share) a write in place of a process that died is left half done
 * 24: (share) a read of a shared file does not take the range locks
 */
#ifndef NVMMIO_MUTANTS_H
#define NVMMIO_MUTANTS_H

#ifndef NVMMIO_MUTANT
#define NVMMIO_MUTANT 0
#endif

#define MUTANT(n) (NVMMIO_MUTANT == (n))

#endif
