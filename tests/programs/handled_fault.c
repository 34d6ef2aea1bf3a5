/* Provokes SIGSEGV (SEGV_MAPERR) three times, each caught by a handler that jumps back, as
   a JVM does with its own faults; then exits 0. The signals were handled and survived:
   not the cause of anything. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
static sigjmp_buf back;
static void on_segv(int sig) { (void)sig; siglongjmp(back, 1); }
int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGSEGV, &sa, NULL);
  for (int i = 0; i < 3; ++i) {
    if (sigsetjmp(back, 1) == 0) {
      volatile int* bad = (volatile int*)(unsigned long)(16 + i);
      *bad = 1;
    }
  }
  printf("survived\n");
  return 0;
}
