/* send_sigqueue PID SIGNO VALUE [LINGER_MS]: sigqueue(3) a signal with a value (SI_QUEUE),
   then stay alive LINGER_MS so the receiver's tracer can read /proc of the sender. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char** argv) {
  if (argc < 4) { fprintf(stderr, "usage: send_sigqueue PID SIGNO VALUE [LINGER_MS]\n"); return 2; }
  union sigval value;
  value.sival_int = atoi(argv[3]);
  if (sigqueue(atoi(argv[1]), atoi(argv[2]), value) != 0) { perror("sigqueue"); return 1; }
  if (argc > 4) usleep(atoi(argv[4]) * 1000);
  return 0;
}
