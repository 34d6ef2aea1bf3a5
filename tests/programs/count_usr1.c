/* count_usr1: counts the SIGUSR1 it handles until a SIGUSR2 comes, then prints
   "handled N" and exits 0. Each SIGUSR1 coming while one is already pending merges with it
   (standard signals do not queue): the count shows how long the process was kept from
   handling them, compared with a run without deathwatch. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile sig_atomic_t handled, done;
static void on_usr1(int sig) { (void)sig; handled++; }
static void on_usr2(int sig) { (void)sig; done = 1; }
int main(void) {
  struct sigaction sa = {0};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, &old);
  printf("ready\n");
  fflush(stdout);
  while (!done) sigsuspend(&old);
  printf("handled %d\n", (int)handled);
  return 0;
}
