/* signal_storm N: sends itself N SIGUSR1 (kill to its own pid, SI_USER) with a handler
   installed, then exits 0. Used for the JSON-validity and overhead checks. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }
int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  signal(SIGUSR1, on_usr1);
  for (long i = 0; i < n; i++) kill(getpid(), SIGUSR1);
  printf("handled %d\n", (int)handled);
  return handled == n ? 0 : 1;
}
