/* Blocks SIGTERM, prints "ready", waits argv[1] ms, then unblocks it: all SIGTERMs sent
   meanwhile are merged into the first one queued, whose sender is the one that counts. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, NULL);
  printf("ready\n");
  fflush(stdout);
  usleep((argc > 1 ? atoi(argv[1]) : 1000) * 1000);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  return 0;
}
