#ifndef OUTPOST_CJOBSPAWN_H
#define OUTPOST_CJOBSPAWN_H

#include <sys/types.h>

/// Resource limits applied in the child before exec; a negative value leaves that limit as inherited.
typedef struct {
    long long address_space_bytes;
    long long cpu_seconds;
    long long open_files;
    long long file_size_bytes;
} outpost_job_limits;

/// Forks and execs `path` as the leader of a new process group, with `envp` as its whole environment,
/// `cwd` as its working directory (NULL: inherited), `stdin_fd` as stdin, `output_fd` as stdout, `error_fd` as
/// stderr (negative: `output_fd`), every other descriptor closed, default signal dispositions, an empty signal
/// mask and `limits` applied (NULL: none). The child is killed (SIGKILL) when the thread that spawned it exits,
/// so it never outlives its parent, even one killed by SIGKILL.
///
/// Returns 0 and sets `*pid`, or an errno value (from fork, or from the child's setup or exec).
int outpost_spawn_job(const char *path, char *const argv[], char *const envp[], const char *cwd,
                      const outpost_job_limits *limits, int stdin_fd, int output_fd, int error_fd, pid_t *pid);

/// pipe2 with O_CLOEXEC on both ends; returns 0 or an errno value.
int outpost_cloexec_pipe(int fds[2]);

#endif
