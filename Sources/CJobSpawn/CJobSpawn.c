// Child process creation for the agent's jobs and the jobs' secret commands. fork + exec rather than posix_spawn because the child must set resource
// limits, its process group and its working directory before exec, and close every inherited descriptor;
// between fork and exec it calls only async-signal-safe functions.
#define _GNU_SOURCE
#include "CJobSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int outpost_cloexec_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) == 0 ? 0 : errno;
}

static void set_limit(int resource, long long value) {
    if (value < 0) return;
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    setrlimit(resource, &limit);
}

static void report_and_exit(int report_fd, int error) {
    ssize_t ignored = write(report_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

int outpost_spawn_job(const char *path, char *const argv[], char *const envp[], const char *cwd,
                      const outpost_job_limits *limits, int stdin_fd, int output_fd, int error_fd, pid_t *pid) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    sigset_t all, previous;
    sigfillset(&all);
    // Block signals around fork so no handler of the agent's runs in the child before exec.
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        int error = errno;
        pthread_sigmask(SIG_SETMASK, &previous, NULL);
        close(report[0]);
        close(report[1]);
        return error;
    }
    if (child == 0) {
        for (int signal_number = 1; signal_number < NSIG; signal_number++) {
            struct sigaction action;
            memset(&action, 0, sizeof action);
            action.sa_handler = SIG_DFL;
            sigaction(signal_number, &action, NULL);
        }
        if (setpgid(0, 0) != 0) report_and_exit(report[1], errno);
        // A child never outlives the process that supervises it: killed if that dies, even by SIGKILL.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) report_and_exit(report[1], errno);
        // The parent may have died between fork and prctl: then nobody would deliver the signal. (Compared with
        // the parent's pid, not 1: the agent is pid 1 in a container.)
        if (getppid() != parent) report_and_exit(report[1], ESRCH);
        if (dup2(stdin_fd, 0) < 0 || dup2(output_fd, 1) < 0 || dup2(error_fd < 0 ? output_fd : error_fd, 2) < 0) {
            report_and_exit(report[1], errno);
        }
        if (cwd != NULL && chdir(cwd) != 0) report_and_exit(report[1], errno);
        if (limits != NULL) {
            set_limit(RLIMIT_AS, limits->address_space_bytes);
            set_limit(RLIMIT_CPU, limits->cpu_seconds);
            set_limit(RLIMIT_NOFILE, limits->open_files);
            set_limit(RLIMIT_FSIZE, limits->file_size_bytes);
        }
        // Close everything but stdio and the report pipe (which is close-on-exec).
        long max = sysconf(_SC_OPEN_MAX);
        if (max < 0 || max > 1 << 20) max = 1 << 20;
        if (syscall(SYS_close_range, 3, report[1] - 1, 0) != 0) {
            for (int fd = 3; fd < report[1]; fd++) close(fd);
        }
        if (syscall(SYS_close_range, report[1] + 1, ~0U, 0) != 0) {
            for (long fd = report[1] + 1; fd < max; fd++) close((int)fd);
        }
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        report_and_exit(report[1], errno);
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    int child_error = 0;
    ssize_t count;
    do {
        count = read(report[0], &child_error, sizeof child_error);
    } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof child_error) {
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
        return child_error;
    }
    *pid = child;
    return 0;
}
