/* Crashes on a NULL dereference: SIGSEGV, SEGV_MAPERR, fault address 0. */
#include <stdio.h>
int main(void) {
  volatile int* p = NULL;
  fprintf(stderr, "null_deref: about to crash\n");
  *p = 1;
  return 0;
}
