/* kill_many PID N [SIGNO]: sends N signals (SIGUSR1 by default) to PID, each from a new
   child process that sends one and exits: N distinct senders, as N runs of /bin/kill would
   be, without the cost of N execs. Exits 1 if a send fails. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char** argv) {
  if (argc < 3) return 2;
  pid_t target = (pid_t)atol(argv[1]);
  long n = atol(argv[2]);
  int signo = argc > 3 ? atoi(argv[3]) : SIGUSR1;
  for (long i = 0; i < n; i++) {
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) _exit(kill(target, signo) == 0 ? 0 : 1);
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  return 0;
}
