/* exec_chain N [EXIT_CODE]: execs itself N times (each generation with N-1), then exits
   with EXIT_CODE (default 5). For signals that arrive while the process is exec'ing. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 0;
  const char* code = argc > 2 ? argv[2] : "5";
  if (n <= 0) return atoi(code);
  usleep(2000);
  char next[32];
  snprintf(next, sizeof next, "%ld", n - 1);
  char* args[] = {argv[0], next, (char*)code, NULL};
  execv("/proc/self/exe", args);
  perror("execv");
  return 100;
}
