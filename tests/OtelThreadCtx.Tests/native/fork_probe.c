/* Test helper: does a fork()ed child of this process still have a mapping whose /proc/self/maps line
 * contains `needle`? The child only makes raw system calls, then _exit()s. Returns 1 (inherited),
 * 0 (not inherited) or -1 (fork/wait failed). */
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int otc_fork_child_sees(const char *needle) {
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        static char maps[1 << 20];
        int fd = open("/proc/self/maps", O_RDONLY);
        size_t used = 0;
        ssize_t got;
        while (fd >= 0 && used < sizeof maps - 1 && (got = read(fd, maps + used, sizeof maps - 1 - used)) > 0) {
            used += (size_t)got;
        }
        maps[used] = '\0';
        _exit(strstr(maps, needle) != NULL ? 1 : 0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}
