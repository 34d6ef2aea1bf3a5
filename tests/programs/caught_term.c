/* Catches SIGTERM and exits 143 (128+15), as the JVM does. Prints "ready" when the
   handler is installed, so a test never races the installation. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static void on_term(int sig) { (void)sig; _exit(143); }
int main(void) {
  signal(SIGTERM, on_term);
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}
