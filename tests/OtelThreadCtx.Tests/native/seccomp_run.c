/* Test helper: runs a command under a seccomp filter that refuses some of the system calls the OTEP 4719
 * publication makes, so that each fallback of the writer is exercised by the kernel itself, not by a substitute.
 *
 *   seccomp_run RULES COMMAND [ARG...]
 *
 * RULES is a comma-separated list of:
 *   memfd        every memfd_create fails with ENOSYS (as under a sandbox that forbids memfd);
 *   noexec-seal  memfd_create with MFD_NOEXEC_SEAL fails with EINVAL (as on Linux before 6.3);
 *   vma-name     prctl(PR_SET_VMA, ...) fails with EINVAL (as without CONFIG_ANON_VMA_NAME).
 * Everything else is allowed. Exit 125 when the filter cannot be installed, else the command's exec. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define OTC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define OTC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_run: x86-64 and aarch64 only"
#endif

#define OTC_PR_SET_VMA 0x53564d41u
#define OTC_MFD_NOEXEC_SEAL 0x8u
#define OTC_MAX_FILTER 32

static struct sock_filter filter[OTC_MAX_FILTER];
static unsigned short used;

static void emit(struct sock_filter instruction) {
    filter[used++] = instruction;
}

/* syscall number already in the accumulator: if it is `nr`, apply `body` (which ends in a return); else fall through. */
static void rule(unsigned nr, const struct sock_filter *body, unsigned short body_length) {
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, body_length));
    for (unsigned short i = 0; i < body_length; i++) {
        emit(body[i]);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s memfd|noexec-seal|vma-name[,...] COMMAND [ARG...]\n", argv[0]);
        return 125;
    }
    int memfd = 0, noexec = 0, vma_name = 0;
    for (const char *rules = argv[1], *next; rules != NULL; rules = next) {
        next = strchr(rules, ',');
        size_t length = next != NULL ? (size_t)(next - rules) : strlen(rules);
        int is_memfd = length == 5 && strncmp(rules, "memfd", 5) == 0;
        int is_noexec = length == 11 && strncmp(rules, "noexec-seal", 11) == 0;
        int is_vma_name = length == 8 && strncmp(rules, "vma-name", 8) == 0;
        memfd |= is_memfd;
        noexec |= is_noexec;
        vma_name |= is_vma_name;
        if (!(is_memfd || is_noexec || is_vma_name)) {
            fprintf(stderr, "seccomp_run: unknown rule '%.*s'\n", (int)length, rules);
            return 125;
        }
        next = next != NULL ? next + 1 : NULL;
    }

    emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    emit((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OTC_AUDIT_ARCH, 1, 0));
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    emit((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
    if (memfd) {
        const struct sock_filter body[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS)};
        rule(__NR_memfd_create, body, 1);
    } else if (noexec) {
        const struct sock_filter body[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
            BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, OTC_MFD_NOEXEC_SEAL, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        rule(__NR_memfd_create, body, 4);
    }
    if (vma_name) {
        const struct sock_filter body[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OTC_PR_SET_VMA, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        rule(__NR_prctl, body, 4);
    }
    emit((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));

    struct sock_fprog program = {.len = used, .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        perror("seccomp_run: installing the filter");
        return 125;
    }
    execvp(argv[2], argv + 2);
    perror("seccomp_run: exec");
    return 125;
}
