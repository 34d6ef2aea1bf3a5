/* posix_spawn (vfork-style clone) of `sh -c "exit 3"`, then of exec_from_thread (a
   multi-threaded child that execs `sh -c "exit 7"` from a non-leader thread); waits for
   both and exits 0. argv[1]: the path of exec_from_thread. */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
extern char** environ;
static int spawn_and_wait(char* const argv[]) {
  pid_t pid;
  if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) != 0) { perror("posix_spawn"); return -1; }
  int status = 0;
  waitpid(pid, &status, 0);
  printf("%d %d\n", pid, WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
  fflush(stdout);
  return 0;
}
int main(int argc, char** argv) {
  if (argc < 2) { fprintf(stderr, "usage: spawner PATH-OF-exec_from_thread\n"); return 2; }
  char* sh[] = {"/bin/sh", "-c", "exit 3", NULL};
  char* threaded[] = {argv[1], NULL};
  if (spawn_and_wait(sh) || spawn_and_wait(threaded)) return 1;
  return 0;
}
