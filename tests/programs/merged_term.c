/* A SIGTERM that two senders race for (issue 8 item 8). Installs a SIGTERM handler and
   blocks SIGTERM, prints "ready", and waits for a line on stdin (meanwhile the test's senders
   signal it: the second copy is merged by the kernel into the pending first). Then it
   unblocks (the handler runs once and prints "handled"), restores SIG_DFL, prints "default"
   and waits: the next SIGTERM kills it. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void on_term(int sig) {
  (void)sig;
  static const char msg[] = "handled\n";
  (void)!write(1, msg, sizeof msg - 1);
}
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, NULL);
  printf("ready\n");
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return 2;
  sigprocmask(SIG_UNBLOCK, &term, NULL);  /* the pending SIGTERM is handled here */
  signal(SIGTERM, SIG_DFL);
  printf("default\n");
  fflush(stdout);
  for (int i = 0; i < 300; ++i) sleep(1);
  return 0;
}
