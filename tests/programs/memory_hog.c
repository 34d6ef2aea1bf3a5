/* Allocates and touches 1 MiB at a time until the OOM killer takes it (or argv[1] MiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char** argv) {
  long limit = argc > 1 ? atol(argv[1]) : 0;
  for (long mib = 1; limit == 0 || mib <= limit; mib++) {
    char* p = malloc(1 << 20);
    if (!p) { perror("malloc"); return 3; }
    memset(p, (int)mib, 1 << 20);
  }
  return 0;
}
