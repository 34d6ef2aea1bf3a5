/* Prints what its SA_SIGINFO handler receives for SIGUSR1/SIGUSR2, one line per signal:
   "SIGNO CODE PID UID VALUE". Prints "ready" first; exits 0 after argv[1] signals. The
   output must be identical with and without deathwatch. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static volatile sig_atomic_t received;
static siginfo_t last[64];
static void handler(int sig, siginfo_t* info, void* ctx) {
  (void)sig; (void)ctx;
  if (received < 64) last[received] = *info;
  received++;
}
int main(int argc, char** argv) {
  int expected = argc > 1 ? atoi(argv[1]) : 1;
  struct sigaction sa = {0};
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR1, &sa, NULL);
  sigaction(SIGUSR2, &sa, NULL);
  printf("ready\n");
  fflush(stdout);
  while (received < expected) pause();
  for (int i = 0; i < received && i < 64; i++)
    printf("%d %d %d %u %d\n", last[i].si_signo, last[i].si_code, last[i].si_pid,
           (unsigned)last[i].si_uid, last[i].si_value.sival_int);
  return 0;
}
